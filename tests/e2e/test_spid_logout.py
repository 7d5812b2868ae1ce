"""SAML single logout in a real browser, through the demo identity provider: the IdP-initiated logout
(the demo IdP's page, axe-checked at 375 px and on desktop) and the SP-initiated one from the header's
"Esci" button; after each, the citizen area asks to sign in again."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import check_accessibility
from tests.factories import make_tenant

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

CF = "PRVGNN90R10H501Q"


def _sign_in(page, base: str) -> None:
    page.goto(f"{base}/spid/accedi/")
    page.click("summary.spid-button")
    page.click("text=Demo IdP (Procedo)")
    page.check(f"#identity-{CF}")
    page.check("#level-SpidL2")
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/spid/benvenuto/")


@pytest.mark.parametrize("viewport", [{"width": 375, "height": 812}, {"width": 1280, "height": 900}])
def test_single_logout_both_ways_through_the_demo_idp(browser, live_server, settings, tmp_path, viewport):
    settings.PROCEDO_SPID_BASE_URL = live_server.url
    settings.PROCEDO_SPID_ENTITY_ID = f"{live_server.url}/spid/metadata/"
    settings.PROCEDO_SPID_KEY_FILE = str(tmp_path / "sp.key")
    settings.PROCEDO_SPID_CERT_FILE = str(tmp_path / "sp.crt")
    settings.PROCEDO_SPID_DEMO_IDP = True
    settings.PROCEDO_SPID_IDP_METADATA = []
    settings.PROCEDO_SPID_TENANT = ""
    make_tenant("Comune di Capannori", istat="046007", belfiore="B648")
    base = live_server.url
    page = browser.new_page(viewport=viewport, locale="it-IT")

    # IdP-initiated: the demo IdP's page sends its signed LogoutRequest; the SP answers and the IdP says so.
    _sign_in(page, base)
    page.goto(f"{base}/demo-idp/esci/")
    check_accessibility(page, "demo IdP logout page")
    page.click("text=Esci da tutti i servizi")
    page.wait_for_selector("text=Sei uscito dall'identity provider e dal servizio.")
    check_accessibility(page, "demo IdP logged out")
    page.goto(f"{base}/spid/benvenuto/")
    assert "/spid/benvenuto/" not in page.url or "PRVGNN90R10H501Q" not in page.content()

    # SP-initiated: the welcome page's "Esci" sends the signed LogoutRequest, the IdP's response comes back.
    _sign_in(page, base)
    page.click("main button:has-text('Esci')")
    page.wait_for_url(f"{base}/accedi/")
    page.goto(f"{base}/spid/benvenuto/")
    assert "PRVGNN90R10H501Q" not in page.content()
    page.goto(f"{base}/demo-idp/esci/")
    assert "Nessuna sessione aperta" in page.content()  # the IdP's session ended too
    page.close()
