"""The documentation site as a reader sees it: built offline (`mkdocs build --strict`, as `make docs`), opened from
disk in headless Chromium with no server — every request the pages make is to a file of the site, the picture of
the pipeline draws, search answers from file://, and the generated reference is one click away. The front page's
screenshot is kept in docs/site.png (``CLICKFLOW_SCREENSHOT=docs/site.png`` rewrites it)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.browser import CHROMIUM, MISSING
from tests.browser import FLAGS as BROWSER_FLAGS
from tests.conftest import PROJECT_ROOT

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    target = tmp_path_factory.mktemp("site")
    built = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(target)],
        cwd=PROJECT_ROOT,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert built.returncode == 0, built.stderr[-3000:]
    return target


def test_the_site_works_from_a_file_with_no_network(site, tmp_path):
    if not CHROMIUM:
        pytest.skip(MISSING)
    from playwright.sync_api import expect, sync_playwright

    requests: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=BROWSER_FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("request", lambda request: requests.append(request.url))
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.goto((site / "index.html").as_uri())
            page.wait_for_load_state("load")
            expect(page).to_have_title("clickflow")
            picture = page.locator("img[src='pipeline.svg']").first
            expect(picture).to_be_visible()
            assert page.evaluate("(img) => img.naturalWidth", picture.element_handle()) > 0
            shot = Path(os.environ.get("CLICKFLOW_SCREENSHOT") or tmp_path / "site.png")
            page.screenshot(path=str(shot))
            assert shot.stat().st_size > 10_000

            # search, from file:// (the offline plugin's index)
            page.locator("input.md-search__input").click()
            page.locator("input.md-search__input").press_sequentially("watermark", delay=30)
            results = page.locator(".md-search-result__item")
            expect(results.first).to_be_visible(timeout=10_000)
            assert "watermark" in results.first.inner_text().lower()

            # the generated configuration reference, one click from the front page
            page.goto((site / "index.html").as_uri())
            page.get_by_role("link", name="configuration keys").first.click()
            expect(page.locator("td code", has_text="job.poll_interval")).to_be_visible()
            assert not errors, errors
        finally:
            browser.close()
    outside = [url for url in requests if not url.startswith(("file://", "data:", "blob:"))]
    assert not outside, f"the site fetched from the network: {outside}"
    assert any(url.endswith(".css") for url in requests) and any(url.endswith(".js") for url in requests)
