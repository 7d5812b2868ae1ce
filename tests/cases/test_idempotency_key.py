"""POST /api/v1/cases/ with an Idempotency-Key: a repeated call (an answer lost when a web process dies
mid-request, a client retry after a 502) gets the first call's case back and opens nothing new."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from django.db import connection

from accounts.roles import Role
from cases.models import Case
from cases.services import case_start
from engine.bundles import read_bundle
from engine.registry import process_version_publish
from tests.factories import api_client, make_tenant, make_user

BENCH = Path(__file__).resolve().parents[2] / "bench" / "three_tasks"


@pytest.fixture
def env(db):
    process_version_publish(bundle=read_bundle(BENCH))
    tenant = make_tenant()
    return {"tenant": tenant, "registrar": make_user(tenant, Role.REGISTRAR), "other": make_user(tenant, Role.REGISTRAR)}


def _post(user, tenant, key):
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key is not None else {}
    return api_client(user, tenant).post("/api/v1/cases/", {"process": "three_tasks", "data": {}}, format="json", **headers)


def test_the_same_key_twice_opens_one_case_and_replays_it(env):
    first = _post(env["registrar"], env["tenant"], "portal-req-0001")
    again = _post(env["registrar"], env["tenant"], "portal-req-0001")
    assert first.status_code == 201 and "Idempotent-Replayed" not in first
    # The first answer again (accounts/idempotency.py), marked as a replay.
    assert again.status_code == 201 and again["Idempotent-Replayed"] == "true"
    assert again.content == first.content
    assert again.json()["id"] == first.json()["id"] and again.json()["number"] == first.json()["number"]
    assert Case.objects.filter(tenant=env["tenant"]).count() == 1
    # Another key, or none, is another case.
    assert _post(env["registrar"], env["tenant"], "portal-req-0002").status_code == 201
    assert _post(env["registrar"], env["tenant"], None).status_code == 201
    assert Case.objects.filter(tenant=env["tenant"]).count() == 3


def test_a_key_is_its_users_and_its_tenants(env):
    assert _post(env["registrar"], env["tenant"], "shared-key-1").status_code == 201
    stolen = _post(env["other"], env["tenant"], "shared-key-1")
    assert stolen.status_code == 409 and stolen.json()["error"]["code"] == "idempotency_key_reused"
    assert str(Case.objects.get().pk) not in stolen.content.decode()  # nothing of the other user's case
    elsewhere = make_tenant()
    assert _post(make_user(elsewhere, Role.REGISTRAR), elsewhere, "shared-key-1").status_code == 201


@pytest.mark.parametrize("key", ["short", "has space inside", "x" * 101, "semi;colon-key", "àccentàto-key"])
def test_a_malformed_key_is_refused_before_anything_is_opened(env, key):
    response = _post(env["registrar"], env["tenant"], key)
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_idempotency_key"
    assert not Case.objects.exists()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_calls_with_one_key_at_the_same_time_open_one_case():
    if connection.vendor != "postgresql":
        pytest.skip("concurrent transactions need PostgreSQL")
    process_version_publish(bundle=read_bundle(BENCH))
    tenant = make_tenant()
    user = make_user(tenant, Role.REGISTRAR)
    barrier = threading.Barrier(4)
    results: list = []

    def start() -> None:
        try:
            barrier.wait()
            case = case_start(tenant=tenant, user=user, process_id="three_tasks", data={}, idempotency_key="retry-race-1")
            results.append((case.pk, getattr(case, "replayed", False)))
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            results.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=start) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert all(isinstance(r, tuple) for r in results), results
    assert len({pk for pk, _replayed in results}) == 1
    assert sorted(replayed for _pk, replayed in results) == [False, True, True, True]
    assert Case.objects.filter(tenant=tenant).count() == 1
