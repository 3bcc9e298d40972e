"""`clickflow demo`: the pipeline end to end."""

from __future__ import annotations

from pathlib import Path

from clickflow.commands.common import (
    count,
    load,
    say,
)


def cmd_demo(args) -> int:
    """``clickflow demo``: the whole pipeline on a generated sample, optionally left up with the dashboard."""
    from clickflow.demo import run_demo

    port = args.dashboard_port if args.dashboard else None
    try:
        return run_demo(load(args), Path(args.workdir), keep_stack=args.keep_stack, say=say, dashboard_port=port)
    except KeyboardInterrupt:  # Ctrl-C ends the dashboard; the demo has stopped the stack on its way out
        return 0 if args.dashboard else 130


def parser_demo(add) -> None:
    """The arguments of `clickflow demo`."""
    p = add(
        "demo",
        "the whole pipeline on the embedded local stack, start to finish",
        "Bring up the local stack, generate a sample with injected bots, spikes, abandoned carts, a wave of "
        "quiet bots and a purchase drop (for the learned rcf_traffic), upload "
        "it to the local S3 bucket, replay it from s3:// into the events stream (plus three malformed records), "
        "run the streaming job over the stream until its end, and print what it found next to what was "
        "injected, the dead letters, and a check that the streamed results equal the same SQL over the file. "
        "Stops the stack at the end unless --keep-stack (or it was already running).",
    )
    p.add_argument("--workdir", default="out/demo", help="where the sample and results go (default: out/demo)")
    p.add_argument("--keep-stack", action="store_true", help="leave the local stack running afterwards")
    p.add_argument(
        "--dashboard",
        action="store_true",
        help="end by serving the live dashboard over the demo's streams; Ctrl-C stops it and the stack",
    )
    p.add_argument("--dashboard-port", type=count(1), default=8050, metavar="N", help="its port (default: 8050)")
    p.set_defaults(func=cmd_demo)
