"""One membership query per request answers both the second-factor rule and the tenant resolution,
with the same answers as asking each separately."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from accounts import security
from accounts.models import Membership, User
from accounts.roles import Role
from accounts.tenancy import resolve_tenant, second_factor_state_for_request
from tests.factories import enrol_totp, make_tenant, make_user

pytestmark = pytest.mark.django_db


def _fresh(user: User) -> User:
    return User.objects.get(pk=user.pk)


@pytest.mark.parametrize("roles, device", [
    ((Role.REGISTRAR,), False), ((Role.REGISTRAR,), True), ((Role.PROCESS_ADMIN,), False),
    ((Role.PROCESS_ADMIN, Role.REGISTRAR), True),
])
def test_the_shared_query_gives_the_same_second_factor_answer(roles, device):
    user = make_user(make_tenant(), *roles)
    if device:
        enrol_totp(user)
    request = RequestFactory().get("/")
    assert second_factor_state_for_request(request, _fresh(user)) == security.second_factor_state(user)


def test_a_process_admin_of_a_deactivated_tenant_still_needs_the_second_factor():
    tenant = make_tenant()
    user = make_user(tenant, Role.PROCESS_ADMIN)
    tenant.is_active = False
    tenant.save()
    request = RequestFactory().get("/")
    assert second_factor_state_for_request(request, _fresh(user)) == (False, True) == security.second_factor_state(user)
    assert resolve_tenant(request, _fresh(user)) is None


def test_a_superuser_without_memberships_is_asked_directly():
    admin = User.objects.create(username="root", is_superuser=True, is_staff=True)
    assert second_factor_state_for_request(RequestFactory().get("/"), admin) == (False, True)


def test_second_factor_and_tenant_cost_one_query_per_request():
    a, b = make_tenant("Alfa"), make_tenant("Beta")
    user = make_user(a, Role.REGISTRAR)
    Membership.objects.create(user=user, tenant=b, role=Role.POLICE)
    request = RequestFactory().get("/", HTTP_X_PROCEDO_TENANT=b.istat_code)
    fresh = _fresh(user)
    with CaptureQueriesContext(connection) as ctx:
        assert second_factor_state_for_request(request, fresh) == (False, False)
        assert resolve_tenant(request, fresh) == b
    assert len(ctx.captured_queries) == 1
    # another user on the same request object is not served the first one's rows
    other = make_user(b, Role.SUPERVISOR)
    assert resolve_tenant(request, _fresh(other)) == b


def test_a_token_request_of_a_process_admin_without_second_factor_is_still_refused():
    tenant = make_tenant()
    admin = make_user(tenant, Role.PROCESS_ADMIN)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=admin).key}")
    response = client.get("/api/v1/tasks/")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "second_factor_required"
    enrol_totp(admin)
    assert client.get("/api/v1/tasks/").status_code == 200


def _token_client(user: User) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


def test_a_token_request_finds_user_second_factor_and_tenant_in_one_query():
    tenant = make_tenant()
    user = make_user(tenant, Role.REGISTRAR)
    client = _token_client(user)
    with CaptureQueriesContext(connection) as ctx:
        response = client.get("/api/v1/tasks/")
    assert response.status_code == 200
    before_view = [q["sql"] for q in ctx.captured_queries if "cases_workitem" not in q["sql"]]
    assert len(before_view) == 1 and "authtoken_token" in before_view[0]


def test_a_token_of_a_deactivated_user_or_an_unknown_token_is_refused():
    tenant = make_tenant()
    user = make_user(tenant, Role.REGISTRAR)
    client = _token_client(user)
    assert client.get("/api/v1/tasks/").status_code == 200
    User.objects.filter(pk=user.pk).update(is_active=False)
    refused = client.get("/api/v1/tasks/")
    # DRF answers 403 rather than 401 when session authentication is listed first
    assert refused.status_code in (401, 403) and refused.json()["error"]["code"] == "authentication_failed"
    stranger = APIClient()
    stranger.credentials(HTTP_AUTHORIZATION="Token " + "0" * 40)
    refused = stranger.get("/api/v1/tasks/")
    assert refused.status_code in (401, 403) and refused.json()["error"]["code"] == "authentication_failed"


def test_a_token_of_a_user_without_memberships_still_authenticates():
    user = User.objects.create_user(username="solo", password="pw-test-123")
    response = _token_client(user).get("/api/v1/tasks/")
    assert response.status_code == 404  # authenticated, but no tenant to act for
