"""The shipped review's index.html in a real headless browser (Chromium through Playwright).

Builds the review into a temporary folder, opens index.html from disk (file://),
and checks what a reader gets: the overview comes first, every image loads, every
local link points at a file in the folder. Skips, saying why, where Playwright or
a Chromium binary is not installed (`apt-get install chromium`; the `test` extra
installs Playwright, which drives the system browser and downloads none).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

ROOT = Path(__file__).resolve().parents[1]
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def _browser() -> str:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        pytest.skip("Playwright is not installed (pip install -e '.[test]')")
    for name in BROWSERS:
        path = shutil.which(name)
        if path:
            return path
    pytest.skip(f"no Chromium/Chrome binary on PATH (looked for {', '.join(BROWSERS)})")


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("site")
    proc = subprocess.run([sys.executable, "-m", "synthesis", "build", "--output", str(out),
                           "--force", "--quiet"], cwd=ROOT, capture_output=True, text=True,
                          timeout=600, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 0, proc.stderr
    assert (out / "index.html").is_file()
    return out


def test_index_in_headless_chromium(built, tmp_path):
    exe = _browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=exe, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1400})
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto((built / "index.html").as_uri())
            page.wait_for_load_state("load")
            shot = tmp_path / "index.png"
            page.screenshot(path=str(shot), full_page=False)
            assert shot.stat().st_size > 10_000
            broken = page.evaluate("Array.from(document.images).filter(i => !i.complete || "
                                   "i.naturalWidth === 0).map(i => i.getAttribute('src'))")
            assert broken == [], f"images that did not load: {broken}"
            n_images = page.evaluate("document.images.length")
            # the overview is the first section after the title and navigation
            first = page.evaluate("document.querySelector('body > section').id")
            first_img = page.evaluate("document.images[0].getAttribute('src')")
            top = page.evaluate("document.getElementById('overview').getBoundingClientRect().top")
            hrefs = page.evaluate("Array.from(document.querySelectorAll('a[href]'))"
                                  ".map(a => a.href)")
        finally:
            browser.close()
    assert errors == []
    assert first == "overview" and first_img == "overview.png"
    assert top < 1400, "the overview is not on the first screen"
    forests = sorted(p.parent.name for p in built.glob("*/forest.png"))
    assert n_images >= len(forests) + 1
    for href in hrefs:  # every local link resolves to a file in the folder
        url = urlparse(href)
        if url.scheme == "file":
            target = Path(unquote(url.path))
            assert target.exists(), f"broken link {href}"
            assert built in target.parents or target == built / "index.html"
