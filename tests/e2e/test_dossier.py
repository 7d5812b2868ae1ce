"""The dossier page in a real browser: a scan added, listed, accessible, on a phone too."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from accounts.roles import Role
from tests.e2e.conftest import check_accessibility, screenshot
from tests.factories import make_tenant, make_user

pytestmark = pytest.mark.django_db(transaction=True)
CF = "RSSMRA80A01H501U"


@pytest.mark.parametrize("viewport", [{"width": 1280, "height": 900}, {"width": 375, "height": 812}],
                         ids=["desktop", "phone"])
def test_a_scan_is_added_to_the_dossier(browser, live_server, tmp_path, settings, viewport):
    settings.PROCEDO_DOCUMENTS_ROOT = str(tmp_path / "blobs")
    tenant = make_tenant("Comune di Capannori", istat="046007")
    registrar = make_user(tenant, Role.REGISTRAR)
    scan = tmp_path / "carta-identita.png"
    out = io.BytesIO()
    Image.new("RGB", (40, 25), "white").save(out, format="PNG")
    scan.write_bytes(out.getvalue())

    page = browser.new_page(viewport=viewport, locale="it-IT")
    page.goto(f"{live_server.url}/accedi/")
    page.fill("#id_username", registrar.username)
    page.fill("#id_password", "pw-test-123")
    page.click("button[type=submit]")
    page.goto(f"{live_server.url}/fascicoli/{CF}/")
    assert "Nessun documento nel fascicolo." in page.inner_text("main")
    check_accessibility(page, "empty dossier")
    page.set_input_files("#d-file", str(scan))
    page.fill("#d-date", "20/11/2026")
    page.fill("#d-prot", "0004711")
    page.select_option("#d-origin", "citizen")
    page.click('button:has-text("Aggiungi al fascicolo")')
    assert "Documento aggiunto al fascicolo." in page.inner_text("main")
    assert "carta-identita.png" in page.inner_text("table") and "0004711" in page.inner_text("table")
    check_accessibility(page, "dossier with a scan")
    wide = page.evaluate("""() => [...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > 380).slice(0, 8).map(e => e.tagName + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right))""")
    assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"], wide
    screenshot(page, f"dossier-{'phone' if viewport['width'] < 500 else 'desktop'}")
    page.close()
