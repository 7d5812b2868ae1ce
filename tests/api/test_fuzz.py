"""Property-based fuzzing of the whole REST API from its own OpenAPI schema (schemathesis):
no generated request, however odd, may produce a server error."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from rest_framework.authtoken.models import Token

from accounts.roles import Role
from cases.services import case_start
from config.wsgi import application
from tests.engine_models import publish_bundle
from tests.factories import enrol_totp, make_tenant, make_user

schema = schemathesis.openapi.from_wsgi("/api/schema/", application)


@pytest.fixture
def auth_header(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock():
        publish_bundle("three_tasks")
        tenant = make_tenant("Comune Fuzz")
        user = make_user(tenant, Role.SUPERVISOR, Role.REGISTRAR, Role.PROCESS_ADMIN)
        enrol_totp(user)  # a process administrator's token works only with a second factor enrolled
        for _ in range(2):
            case_start(tenant=tenant, user=user, process_id="three_tasks", data={})
        token, _ = Token.objects.get_or_create(user=user)
    return {"Authorization": f"Token {token.key}"}


@pytest.mark.django_db(transaction=True)
@schema.parametrize()
@settings(max_examples=15, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.filter_too_much, HealthCheck.too_slow])
def test_no_request_gets_a_server_error(case, auth_header):
    response = case.call(headers=auth_header)
    assert response.status_code < 500, f"{case.method} {case.formatted_path}: {response.status_code} {response.text[:300]}"
