"""Debian's Chromium for the tests that draw pages: where it is, and the flags this machine needs
(without the background-networking ones, its connections are refused by the closed network)."""

from __future__ import annotations

import shutil

CHROMIUM = shutil.which("chromium")
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
MISSING = "Debian's chromium is not installed: `apt-get install chromium` (what .ci/run does) runs this test"
