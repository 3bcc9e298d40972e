"""The `clickflow` subcommands: each module holds its commands' arguments next to their functions."""
