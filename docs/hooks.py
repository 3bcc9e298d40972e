"""MkDocs hooks of clickflow's documentation (mkdocs.yml).

- Before building, the generated reference pages (docs/reference/) are checked against the code; a stale one fails
  the build, naming the command that rewrites it.
- The site must work from a file with no network. Material's offline plugin makes search work from file:// with a
  small Web Worker shim it links from unpkg.com; the pages link the copy npm installed (iframe-worker, pinned in
  package-lock.json) instead, put beside the theme's scripts.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from mkdocs.exceptions import PluginError

SHIM_URL = "https://unpkg.com/iframe-worker/shim"
SHIM_SITE_PATH = "assets/javascripts/iframe-worker-shim.js"


def on_pre_build(config) -> None:
    """Fail the build when a page of docs/reference/ no longer matches the code."""
    from clickflow import reference

    stale = reference.stale()
    if stale:
        pages = ", ".join(f"docs/reference/{name}" for name in stale)
        raise PluginError(f"{pages}: stale (the code changed since it was generated): run `{reference.REGENERATE}`")


def on_post_build(config) -> None:
    """Put the shim in the site and link it, and check that no page links anything it would fetch from the network
    at view time."""
    shim = Path(config["config_file_path"]).parent / "node_modules" / "iframe-worker" / "shim" / "index.js"
    if not shim.exists():
        raise PluginError(f"{shim} is missing: run `npm ci` (make setup does)")
    target = Path(config["site_dir"]) / SHIM_SITE_PATH
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(shim, target)
    site = Path(config["site_dir"])
    for html in site.rglob("*.html"):
        text = html.read_text(encoding="utf-8")
        if SHIM_URL in text:  # the local copy instead of unpkg.com's
            depth = len(html.relative_to(site).parts) - 1
            text = text.replace(SHIM_URL, "../" * depth + SHIM_SITE_PATH)
            html.write_text(text, encoding="utf-8")
        for tag in ('<script src="http', '<link rel="stylesheet" href="http', "url(http"):
            if tag in text:
                raise PluginError(f"{html}: fetches from the network at view time ({tag}...)")
