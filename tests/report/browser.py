"""Headless Chromium through Playwright for the browser tests (report and viewer).

Playwright's own browser download is impossible here, so it drives the system
Chromium (``/usr/bin/chromium``, installed by ``scripts/setup_env.py --dev``)
with the flags that keep it off the network. :func:`page_checks` collects what
every page must satisfy: requests that left the machine, and overlapping text
boxes measured through the DOM (``overlap.js``).
"""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path
from typing import Any, Iterator

import pytest

CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--no-first-run"]
OVERLAP_JS = (Path(__file__).with_name("overlap.js")).read_text(encoding="utf-8")


def chromium_path() -> str:
    for name in ("/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    pytest.skip("NO CHROMIUM BINARY FOUND (chromium, chromium-browser, google-chrome): the browser tests did not "
                "run; install it with `python scripts/setup_env.py --dev` or `apt-get install chromium`")


@contextlib.contextmanager
def browser() -> Iterator[Any]:
    """A headless Chromium; fails (not skips) when Playwright is missing, as setup_env --dev installs it."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as err:  # pragma: no cover - environment problem
        pytest.fail(f"Playwright is not installed ({err}); run `python scripts/setup_env.py --dev` "
                    "(it installs whytoken[test,viewer])")
    path = chromium_path()
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=path, args=CHROMIUM_FLAGS)
        try:
            yield b
        finally:
            b.close()


def watch_requests(page: Any, allowed: tuple[str, ...] = ("file:", "data:", "about:", "blob:")) -> list[str]:
    """Abort and record every request whose URL does not start with ``allowed``."""
    outside: list[str] = []

    def handle(route: Any) -> None:
        url = route.request.url
        if url.startswith(allowed):
            route.continue_()
        else:
            outside.append(url)
            route.abort()

    page.route("**/*", handle)
    return outside


def text_overlaps(page: Any) -> dict[str, Any]:
    """Open every ``<details>`` and return ``overlap.js``'s count of overlapping text boxes."""
    page.evaluate("() => document.querySelectorAll('details').forEach(d => d.open = true)")
    return page.evaluate(OVERLAP_JS)


def screenshot(page: Any, name: str, directory: Path) -> Path:
    """Save a full-page screenshot as ``name`` in ``$WHYTOKEN_SCREENSHOT_DIR`` (to look at) or ``directory``."""
    folder = Path(os.environ.get("WHYTOKEN_SCREENSHOT_DIR") or directory)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    page.screenshot(path=str(path), full_page=True)
    return path
