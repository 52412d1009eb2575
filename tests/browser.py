"""Headless Chromium for browser tests: Debian's /usr/bin/chromium driven by Playwright.

Never downloads a browser. The flags keep Chromium off the network (this machine has none
but loopback) and quiet; a missing Chromium skips, or fails under REQUIRE_PEERS=1 (CI).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or (
    "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None
)
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"


def require_chromium() -> str:
    if CHROMIUM is None:
        reason = "needs the Debian chromium package (make test installs it)"
        if os.environ.get("REQUIRE_PEERS", "").lower() in {"1", "true", "yes"}:
            pytest.fail(f"Chromium is required (REQUIRE_PEERS) but {reason}")
        pytest.skip(reason)
    return CHROMIUM


@contextmanager
def chromium_page(viewport: tuple[int, int] = (1280, 800)) -> Iterator:
    """A fresh browser and page; page errors are collected on ``page.errors``."""
    executable = require_chromium()
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": viewport[0], "height": viewport[1]})
            page.errors = []
            page.on("pageerror", lambda error: page.errors.append(str(error)))
            yield page
        finally:
            browser.close()


def save_screenshot(page, name: str) -> Path:
    """Keep what the browser showed as a test artifact (test-artifacts/NAME.png)."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
