"""A citizen signs in with SPID level 2 through the demo identity provider in a real browser: the login
page's "Entra con SPID" menu (no JavaScript needed), the IdP page, the auto-posted response under our
Content-Security-Policy, the personal page; no CSP violation, no serious accessibility issue."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import check_accessibility, screenshot
from tests.factories import make_tenant

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_a_citizen_signs_in_with_spid_level_2_through_the_demo_idp(browser, live_server, settings, tmp_path):
    settings.PROCEDO_SPID_BASE_URL = live_server.url
    settings.PROCEDO_SPID_ENTITY_ID = f"{live_server.url}/spid/metadata/"
    settings.PROCEDO_SPID_KEY_FILE = str(tmp_path / "sp.key")
    settings.PROCEDO_SPID_CERT_FILE = str(tmp_path / "sp.crt")
    settings.PROCEDO_SPID_DEMO_IDP = True
    settings.PROCEDO_SPID_IDP_METADATA = []
    make_tenant("Comune di Capannori", istat="046007", belfiore="B648")
    page = browser.new_page(viewport={"width": 375, "height": 800})
    violations: list[str] = []
    page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)

    page.goto(f"{live_server.url}/accedi/")
    check_accessibility(page, "login with SPID")
    page.click("summary.spid-button")
    page.click("text=Demo IdP (Procedo)")
    page.wait_for_selector("text=Identity provider di prova")
    check_accessibility(page, "demo IdP")
    page.check("#identity-PRVGNN90R10H501Q")
    page.check("#level-SpidL2")
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/spid/benvenuto/")

    assert page.locator("[data-testid=fiscal-code]").inner_text() == "PRVGNN90R10H501Q"
    assert page.locator("[data-testid=loa]").inner_text() == "SpidL2"
    screenshot(page, "spid-login-welcome")
    assert not violations, violations
