"""Login hardening (issue 17, finding 10), each test performing the attack:
password guessing on the login page and on the token endpoint, old and stolen API tokens,
weak passwords, and a process administrator working without a second factor."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client
from rest_framework.authtoken.models import Token

from accounts import security
from accounts.roles import Role
from accounts.services import own_password_change, tenant_user_reset_password, tenant_user_set_active
from common import clock
from tests.factories import enrol_totp, login_with_second_factor, make_user, totp_now

pytestmark = pytest.mark.django_db

PASSWORD = "pw-test-123"


def _token_request(client: Client, username: str, password: str, **extra):
    return client.post("/api/v1/token/", {"username": username, "password": password, **extra},
                       content_type="application/json")


def _api_get(token: str, tenant):
    return Client().get("/api/v1/cases/", HTTP_AUTHORIZATION=f"Token {token}", HTTP_X_PROCEDO_TENANT=tenant.istat_code)


# --------------------------------------------------------------------------- guessing passwords


def test_guessing_a_password_on_the_login_page_locks_the_account_out_in_italian(office, settings):
    user = office["registrar"]
    client = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT):
        assert client.post("/accedi/", {"username": user.username, "password": "guess"}).status_code in (200, 429)
    # the attacker now finds the right password: still refused, and not signed in
    page = client.post("/accedi/", {"username": user.username, "password": PASSWORD})
    assert page.status_code == 429
    assert "Troppi tentativi di accesso" in page.content.decode()
    assert "_auth_user_id" not in client.session
    assert client.get("/").status_code == 302  # still anonymous: sent to the login page


def test_guessing_on_the_token_endpoint_locks_out_too_and_issues_no_token(office, settings):
    user = office["registrar"]
    client = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        refused = _token_request(client, user.username, "guess")
        assert refused.status_code == 401 and refused.json()["error"]["code"] == "invalid_credentials"
    _token_request(client, user.username, "guess")
    locked = _token_request(client, user.username, PASSWORD)
    assert locked.status_code == 429
    assert locked.json()["error"]["code"] == "locked_out"
    assert "Troppi tentativi" in locked.json()["error"]["message"]
    assert not Token.objects.filter(user=user).exists()


def test_the_right_password_gives_a_token_that_expires(office, settings):
    user, tenant = office["registrar"], office["tenant"]
    answer = _token_request(Client(), user.username, PASSWORD)
    assert answer.status_code == 200
    token = answer.json()["token"]
    assert answer.json()["expires_at"]
    assert _api_get(token, tenant).status_code == 200
    clock.advance(dt.timedelta(days=settings.PROCEDO_API_TOKEN_TTL_DAYS, minutes=1))
    expired = _api_get(token, tenant)
    assert expired.status_code in (401, 403)  # DRF answers 403 when session authentication comes first
    assert expired.json()["error"]["code"] == "token_expired"
    assert not Token.objects.filter(key=token).exists()


# --------------------------------------------------------------------------- revocation


def test_changing_the_password_revokes_api_tokens(office):
    user, tenant = office["registrar"], office["tenant"]
    token = security.token_issue(user=user).key
    assert _api_get(token, tenant).status_code == 200
    own_password_change(user=user, new_password="una-frase-lunga-2026", tenant=tenant)
    refused = _api_get(token, tenant)
    assert refused.status_code in (401, 403) and refused.json()["error"]["code"] == "authentication_failed"


def test_a_password_reset_and_a_suspension_revoke_api_tokens(office):
    tenant, supervisor = office["tenant"], office["supervisor"]
    reset_user, suspended = office["registrar"], make_user(tenant, Role.POLICE)
    reset_token = security.token_issue(user=reset_user).key
    suspended_token = security.token_issue(user=suspended).key
    tenant_user_reset_password(tenant=tenant, actor=supervisor, user_id=reset_user.pk)
    tenant_user_set_active(tenant=tenant, actor=supervisor, user_id=suspended.pk, active=False)
    for token in (reset_token, suspended_token):
        refused = _api_get(token, tenant)
        assert refused.status_code in (401, 403) and refused.json()["error"]["code"] == "authentication_failed"
    assert not Token.objects.filter(user__in=[reset_user, suspended]).exists()


def test_a_common_password_is_refused(office):
    user = office["registrar"]
    client = Client()
    client.force_login(user)
    page = client.post("/password/", {"old_password": PASSWORD, "new_password1": "password123",
                                      "new_password2": "password123"})
    assert page.status_code == 200
    user.refresh_from_db()
    assert user.check_password(PASSWORD)  # unchanged


# --------------------------------------------------------------------------- second factor


def test_a_process_admin_without_a_second_factor_reaches_nothing(office):
    admin, tenant = office["admin"], office["tenant"]
    client = Client()
    client.force_login(admin)
    for path in ("/", "/amministrazione/utenti/", "/pratiche/"):
        page = client.get(path)
        assert page.status_code == 302 and page["Location"].startswith("/sicurezza/due-fattori/")
    api = client.get("/api/v1/cases/", HTTP_X_PROCEDO_TENANT=tenant.istat_code)
    assert api.status_code == 403 and api.json()["error"]["code"] == "second_factor_required"
    # an old token does not help either, and the token endpoint issues none
    old = Token.objects.create(user=admin)
    refused = _api_get(old.key, tenant)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "second_factor_required"
    endpoint = _token_request(Client(), admin.username, PASSWORD)
    assert endpoint.status_code == 403 and endpoint.json()["error"]["code"] == "second_factor_required"


def test_a_process_admin_enrols_with_the_qr_code_and_then_works(office):
    admin = office["admin"]
    client = Client()
    client.force_login(admin)
    page = client.get("/sicurezza/due-fattori/")
    assert page.status_code == 200
    body = page.content.decode()
    assert "<svg" in body and 'id="totp-secret"' in body
    pending = security.pending_device(admin)
    wrong = client.post("/sicurezza/due-fattori/", {"code": "000000" if totp_now(pending) != "000000" else "111111"})
    assert wrong.status_code == 400
    assert client.get("/amministrazione/utenti/").status_code == 302  # still locked out of the pages
    pending.refresh_from_db()
    pending.throttle_reset()  # django-otp slows down guessing after a wrong code: wait it out
    right = client.post("/sicurezza/due-fattori/", {"code": totp_now(pending), "next": "/amministrazione/utenti/"})
    assert right.status_code == 302 and right["Location"] == "/amministrazione/utenti/"
    assert client.get("/amministrazione/utenti/").status_code == 200
    from audit.models import AuditEvent

    enrolled = AuditEvent.objects.filter(actor=admin, object_type="second_factor")
    assert [(e.action, e.after) for e in enrolled] == [("update", {"confirmed_device": "totp"})]


def test_after_the_password_a_user_with_a_device_must_give_the_right_code(office):
    admin = office["admin"]
    device = enrol_totp(admin)
    client = Client()
    signed_in = client.post("/accedi/", {"username": admin.username, "password": PASSWORD})
    assert signed_in.status_code == 302
    assert client.get("/amministrazione/utenti/")["Location"].startswith("/accedi/verifica/")
    wrong = client.post("/accedi/verifica/", {"code": "12345a"})
    assert wrong.status_code == 400 and "Codice non valido" in wrong.content.decode()
    assert client.get("/amministrazione/utenti/").status_code == 302
    ok = client.post("/accedi/verifica/", {"code": totp_now(device), "next": "/amministrazione/utenti/"})
    assert ok.status_code == 302 and ok["Location"] == "/amministrazione/utenti/"
    assert client.get("/amministrazione/utenti/").status_code == 200


def test_the_token_endpoint_wants_the_code_of_a_user_with_a_device(office):
    admin, tenant = office["admin"], office["tenant"]
    device = enrol_totp(admin)
    missing = _token_request(Client(), admin.username, PASSWORD)
    assert missing.status_code == 403 and missing.json()["error"]["code"] == "otp_invalid"
    assert not Token.objects.filter(user=admin).exists()
    answer = _token_request(Client(), admin.username, PASSWORD, otp_code=totp_now(device))
    assert answer.status_code == 200
    assert _api_get(answer.json()["token"], tenant).status_code == 200


def test_operators_may_enrol_but_are_not_forced_to(office):
    registrar = office["registrar"]
    client = Client()
    client.force_login(registrar)
    assert client.get("/").status_code in (200, 302)
    assert not client.get("/").get("Location", "").startswith("/sicurezza/")
    assert client.get("/sicurezza/due-fattori/").status_code == 200


def test_a_verified_process_admin_reaches_the_api_with_the_session(office):
    admin, tenant = office["admin"], office["tenant"]
    client = Client()
    login_with_second_factor(client, admin)
    assert client.get("/api/v1/cases/", HTTP_X_PROCEDO_TENANT=tenant.istat_code).status_code == 200
