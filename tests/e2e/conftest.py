"""Browser tests: Debian's Chromium driven by Playwright against a live test server.

Screenshots go to tests/artifacts/ (ignored by git, kept by CI as artefacts)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
AXE = ROOT / "frontend" / "node_modules" / "axe-core" / "axe.min.js"
ARTIFACTS = ROOT / "tests" / "artifacts"
CHROMIUM = os.environ.get("PROCEDO_CHROMIUM", shutil.which("chromium") or "/usr/bin/chromium")

# Playwright's sync API runs an event loop; Django must allow ORM use from tests anyway.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture(scope="module")
def browser():
    # Module scope, not session: Playwright's sync API keeps an asyncio loop running in
    # this thread while it is open, which would break later tests that call asyncio.run().
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium not found at {CHROMIUM}: `make test` installs Debian's chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"],
        )
        yield browser
        browser.close()


def check_accessibility(page, name: str) -> None:
    """Run axe-core (WCAG 2.1 A/AA rules); no serious or critical violation is allowed."""
    # Not add_script_tag: an inline <script> is exactly what our Content-Security-Policy forbids. The
    # DevTools protocol evaluates outside the page's CSP, so the pages are audited under their real policy.
    page.evaluate(AXE.read_text() + "\n;true")
    result = page.evaluate(
        "async () => await axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}})"
    )
    bad = [
        f"{v['id']} ({v['impact']}): {v['help']} -> {[n['target'] for n in v['nodes']][:3]}"
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]
    assert not bad, f"{name}: " + "; ".join(bad)


def screenshot(page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def login(page, base: str, username: str) -> None:
    """Sign in through the login form as one of the factories' users (they share tests.factories.PASSWORD)."""
    from tests.factories import PASSWORD

    page.goto(f"{base}/accedi/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/")


def check_page(page, name: str, viewport: dict, label: str) -> None:
    """axe-core, a screenshot, and no horizontal scrolling at the viewport's width."""
    check_accessibility(page, f"{name} {label}")
    screenshot(page, f"{name}-{label}")
    wide = page.evaluate("document.documentElement.scrollWidth")
    assert wide <= viewport["width"], f"{name}: page is {wide}px wide"
