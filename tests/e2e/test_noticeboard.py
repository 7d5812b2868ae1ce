"""The public notice board in a real browser, without login: the current list, the archive and a
publication page, on a desktop and on a 375 px phone, with axe-core on each; and no inline script
runs (the CSP stays strict)."""

from __future__ import annotations

import pytest

from common import clock
from tests.e2e.conftest import check_accessibility, screenshot
from tests.noticeboard.conftest import board, nb_settings, signed_document, signer_p12, trust  # noqa: F401
from tests.noticeboard.test_services import MONDAY, publish

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def posted(board, signed_document):  # noqa: F811
    clock.freeze(MONDAY)
    current = publish(board, signed_document(), title="Pubblicazione di matrimonio tra Luca Neri e Giulia Conti",
                      body="Si rende noto che Luca Neri e Giulia Conti intendono celebrare matrimonio civile.")
    publish(board, signed_document(), title="Ordinanza di chiusura al traffico di via Roma", category="ordinanza",
            days=3)
    clock.reset()
    return current


@pytest.mark.parametrize("viewport", [{"width": 1280, "height": 900}, {"width": 375, "height": 800}],
                         ids=["desktop", "phone"])
def test_the_public_notice_board_is_accessible_on_desktop_and_phone(browser, live_server, board, posted,  # noqa: F811
                                                                     viewport):
    # The live server thread reads the same process-wide clock: put it a few days after MONDAY.
    import datetime as dt

    clock.freeze(MONDAY + dt.timedelta(days=4))
    label = "phone" if viewport["width"] < 500 else "desktop"
    errors: list[str] = []
    page = browser.new_page(viewport=viewport)
    page.on("console", lambda m: errors.append(m.text) if "Content Security Policy" in m.text else None)
    base = f"{live_server.url}/albo/{board['a'].slug}/"

    page.goto(base)
    assert page.locator("h1", has_text="Albo pretorio online").count() == 1
    assert page.locator(".publication-card").count() == 1  # the ordinance ended on day 3
    check_accessibility(page, f"notice board {label}")
    screenshot(page, f"noticeboard-list-{label}")
    assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]

    page.click("text=Pubblicazione di matrimonio tra Luca Neri e Giulia Conti")
    assert page.locator("code", has_text=posted.document.sha256).count() == 1
    check_accessibility(page, f"publication {label}")
    screenshot(page, f"noticeboard-publication-{label}")
    assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]

    page.goto(base + "archivio/")
    assert page.locator(".publication-card").count() == 1
    assert page.locator('meta[name="robots"][content="noindex"]').count() == 1
    check_accessibility(page, f"archive {label}")
    screenshot(page, f"noticeboard-archive-{label}")
    assert not errors, errors
    page.close()
