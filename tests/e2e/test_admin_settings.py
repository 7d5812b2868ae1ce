"""The municipality's settings pages (coat of arms, templates) in a real browser, accessible."""

from __future__ import annotations

import base64

import pytest
from django_otp.oath import totp

from accounts.roles import Role
from tests.e2e.conftest import check_accessibility, screenshot
from tests.factories import make_tenant, make_user

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_settings_pages_are_accessible(browser, live_server, settings, tmp_path):
    settings.PROCEDO_DOCUMENTS_ROOT = str(tmp_path / "blobs")
    tenant = make_tenant("Comune di Capannori", istat="046007")
    admin = make_user(tenant, Role.PROCESS_ADMIN, username="pia.admin")
    page = browser.new_page(viewport={"width": 1280, "height": 900}, locale="it-IT")
    page.goto(f"{live_server.url}/accedi/")
    page.fill("#id_username", admin.username)
    page.fill("#id_password", "pw-test-123")
    page.click("button[type=submit]")
    # A process administrator without a second factor is sent to enrol first: scan (here: read) the
    # secret, type the app's code, and only then reach the settings.
    page.wait_for_url(f"{live_server.url}/sicurezza/due-fattori/**")
    assert page.locator(".totp-qr svg").count() == 1
    check_accessibility(page, "two-factor-enrolment")
    secret = page.locator("#totp-secret").inner_text().replace(" ", "")
    key = base64.b32decode(secret + "=" * (-len(secret) % 8))
    page.fill("#id_code", f"{totp(key):06d}")
    page.click("button:has-text('Attiva')")
    page.wait_for_url(f"{live_server.url}/")
    for path, name in (("/amministrazione/ente/", "admin-tenant"), ("/amministrazione/modelli/", "admin-templates")):
        page.goto(f"{live_server.url}{path}")
        assert page.locator("h1", has_text="Amministrazione").count() == 1
        check_accessibility(page, name)
        screenshot(page, name)
    page.close()
