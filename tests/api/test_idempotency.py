"""Idempotency-Key on every mutating API call (accounts/idempotency.py): a repeat after a commit replays the
first answer and changes nothing; a repeat after a rollback runs again; another body under the same key is
refused; a key is its user's; two calls with one key at once run once (PostgreSQL)."""

from __future__ import annotations

import datetime as dt
import threading
from pathlib import Path

import pytest
from django.db import connection
from django.utils import timezone

from accounts import idempotency
from accounts.models import IdempotencyRecord
from accounts.roles import Role
from audit.models import AuditEvent
from cases.models import Comment, WorkItem
from cases.services import case_start
from engine.bundles import read_bundle
from engine.registry import process_version_publish
from tests.factories import api_client, make_tenant, make_user

BENCH = Path(__file__).resolve().parents[2] / "bench" / "three_tasks"


@pytest.fixture
def env(db):
    process_version_publish(bundle=read_bundle(BENCH))
    tenant = make_tenant()
    registrar = make_user(tenant, Role.REGISTRAR)
    case = case_start(tenant=tenant, user=registrar, process_id="three_tasks", data={})
    return {
        "tenant": tenant, "registrar": registrar, "other": make_user(tenant, Role.REGISTRAR),
        "supervisor": make_user(tenant, Role.SUPERVISOR), "case": case,
        "item": WorkItem.objects.get(case=case, status="open"),
    }


def _post(env, user, path, body=None, key=None):
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key is not None else {}
    return api_client(env[user], env["tenant"]).post(f"/api/v1/{path}", body, format="json", **headers)


def test_a_completion_repeated_with_its_key_replays_the_answer_and_advances_the_case_once(env):
    item = env["item"]
    assert _post(env, "registrar", f"tasks/{item.pk}/claim/", key="claim-0001").status_code == 200
    again = _post(env, "registrar", f"tasks/{item.pk}/claim/", key="claim-0001")
    assert again.status_code == 200 and again["Idempotent-Replayed"] == "true"

    first = _post(env, "registrar", f"tasks/{item.pk}/complete/", {"data": {"ok": True}}, key="complete-0001")
    assert first.status_code == 200 and "Idempotent-Replayed" not in first
    events_after_first = AuditEvent.objects.filter(tenant=env["tenant"]).count()
    # The answer was lost; the client (or nginx, on another web process) sends the same call again.
    replay = _post(env, "registrar", f"tasks/{item.pk}/complete/", {"data": {"ok": True}}, key="complete-0001")
    assert replay.status_code == 200 and replay["Idempotent-Replayed"] == "true"
    assert replay.content == first.content and replay["Content-Type"] == first["Content-Type"]
    # Nothing ran again: one task completed, the next one opened once, no new audit entry.
    assert WorkItem.objects.filter(case=env["case"], status="completed").count() == 1
    assert list(WorkItem.objects.filter(case=env["case"], status="open").values_list("bpmn_id", flat=True)) == ["second"]
    assert AuditEvent.objects.filter(tenant=env["tenant"]).count() == events_after_first
    # Without the key the same repeat is what it always was: already completed.
    assert _post(env, "registrar", f"tasks/{item.pk}/complete/", {"data": {"ok": True}}).status_code == 409


@pytest.mark.parametrize("call", ["comment", "cancel", "assign", "message"])
def test_every_mutating_call_is_replayed_not_repeated(env, call):
    case, item = env["case"], env["item"]
    user, path, body = {
        "comment": ("registrar", f"cases/{case.pk}/comments/", {"text": "Telefonato al dichiarante."}),
        "cancel": ("supervisor", f"cases/{case.pk}/cancel/", {"reason": "Domanda ritirata."}),
        "assign": ("supervisor", f"tasks/{item.pk}/assign/", {"user": env["other"].username}),
        "message": ("registrar", f"cases/{case.pk}/messages/", {"message": "no_such_message"}),
    }[call]
    first = _post(env, user, path, body, key=f"{call}-key-01")
    events = AuditEvent.objects.filter(tenant=env["tenant"]).count()
    again = _post(env, user, path, body, key=f"{call}-key-01")
    if first.status_code >= 300:
        # A refusal is not kept: the repeat is judged again (and refused again), nothing is stored.
        assert call == "message" and again.status_code == first.status_code and "Idempotent-Replayed" not in again
        assert not IdempotencyRecord.objects.exists()
        return
    assert again.status_code == first.status_code and again.content == first.content
    assert again["Idempotent-Replayed"] == "true"
    assert AuditEvent.objects.filter(tenant=env["tenant"]).count() == events
    assert Comment.objects.filter(case=case).count() == (1 if call == "comment" else 0)
    record = IdempotencyRecord.objects.get()
    assert (record.user, record.tenant, record.method, record.status_code) == (env[user], env["tenant"], "POST", first.status_code)


def test_the_same_key_for_another_call_is_refused(env):
    case = env["case"]
    assert _post(env, "registrar", f"cases/{case.pk}/comments/", {"text": "Prima nota."}, key="note-key-01").status_code == 201
    other_body = _post(env, "registrar", f"cases/{case.pk}/comments/", {"text": "Seconda nota."}, key="note-key-01")
    assert other_body.status_code == 422 and other_body.json()["error"]["code"] == "idempotency_key_mismatch"
    other_path = _post(env, "registrar", f"tasks/{env['item'].pk}/claim/", key="note-key-01")
    assert other_path.status_code == 422
    assert "Prima nota" not in other_body.content.decode()  # never the other call's answer
    assert list(Comment.objects.filter(case=case).values_list("text", flat=True)) == ["Prima nota."]


def test_a_key_is_its_users_and_its_tenants(env):
    case = env["case"]
    assert _post(env, "registrar", f"cases/{case.pk}/comments/", {"text": "Nota."}, key="shared-key-01").status_code == 201
    theirs = _post(env, "other", f"cases/{case.pk}/comments/", {"text": "Nota."}, key="shared-key-01")
    assert theirs.status_code == 201 and "Idempotent-Replayed" not in theirs  # their own call, run
    assert Comment.objects.filter(case=case).count() == 2
    assert IdempotencyRecord.objects.filter(key="shared-key-01").count() == 2


def test_a_refused_call_keeps_no_record_and_runs_again_when_repeated(env):
    item = env["item"]
    assert _post(env, "other", f"tasks/{item.pk}/claim/").status_code == 200  # someone else holds it
    refused = _post(env, "registrar", f"tasks/{item.pk}/claim/", key="claim-key-02")
    assert refused.status_code == 409 and not IdempotencyRecord.objects.exists()
    assert _post(env, "other", f"tasks/{item.pk}/unclaim/").status_code == 200
    retried = _post(env, "registrar", f"tasks/{item.pk}/claim/", key="claim-key-02")
    assert retried.status_code == 200 and "Idempotent-Replayed" not in retried
    assert WorkItem.objects.get(pk=item.pk).assignee == env["registrar"]


def test_a_call_whose_transaction_rolled_back_runs_again(env, monkeypatch):
    """The web process dies after the call's changes but before COMMIT: the database undoes them and the
    record with them, so the retry runs the call (not a replay of something that never happened)."""
    case = env["case"]

    def die(record, response):
        raise RuntimeError("worker killed before COMMIT")

    monkeypatch.setattr(idempotency, "settle", die)
    with pytest.raises(RuntimeError):
        _post(env, "registrar", f"cases/{case.pk}/comments/", {"text": "Nota persa."}, key="lost-key-01")
    assert not Comment.objects.filter(case=case).exists() and not IdempotencyRecord.objects.exists()
    monkeypatch.undo()
    retried = _post(env, "registrar", f"cases/{case.pk}/comments/", {"text": "Nota persa."}, key="lost-key-01")
    assert retried.status_code == 201 and "Idempotent-Replayed" not in retried
    assert Comment.objects.filter(case=case).count() == 1


@pytest.mark.parametrize("key", ["short", "has space inside", "x" * 101, "semi;colon-key"])
def test_a_malformed_key_is_refused_before_anything_runs(env, key):
    item = env["item"]
    response = _post(env, "registrar", f"tasks/{item.pk}/claim/", key=key)
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_idempotency_key"
    assert WorkItem.objects.get(pk=item.pk).assignee is None


def test_reads_ignore_the_header_and_old_records_expire(env, settings):
    case = env["case"]
    listing = api_client(env["registrar"], env["tenant"]).get("/api/v1/tasks/", HTTP_IDEMPOTENCY_KEY="read-key-01")
    assert listing.status_code == 200 and not IdempotencyRecord.objects.exists()
    assert _post(env, "registrar", f"cases/{case.pk}/comments/", {"text": "Nota."}, key="old-key-001").status_code == 201
    IdempotencyRecord.objects.update(created_at=timezone.now() - dt.timedelta(hours=settings.PROCEDO_IDEMPOTENCY_TTL_HOURS + 1))
    # Past its lifetime a key no longer answers: the call runs again (and the beat job prunes the rest).
    assert _post(env, "registrar", f"cases/{case.pk}/comments/", {"text": "Nota."}, key="old-key-001").status_code == 201
    assert Comment.objects.filter(case=case).count() == 2
    IdempotencyRecord.objects.update(created_at=timezone.now() - dt.timedelta(days=3))
    assert idempotency.prune() == 1 and not IdempotencyRecord.objects.exists()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_one_completion_sent_four_times_at_once_runs_once():
    if connection.vendor != "postgresql":
        pytest.fail("the concurrency test needs PostgreSQL (DATABASE_URL)")
    process_version_publish(bundle=read_bundle(BENCH))
    tenant = make_tenant()
    user = make_user(tenant, Role.REGISTRAR)
    case = case_start(tenant=tenant, user=user, process_id="three_tasks", data={})
    item = WorkItem.objects.get(case=case, status="open")
    assert api_client(user, tenant).post(f"/api/v1/tasks/{item.pk}/claim/").status_code == 200
    barrier = threading.Barrier(4)
    answers: list = []

    def complete() -> None:
        try:
            barrier.wait()
            response = api_client(user, tenant).post(
                f"/api/v1/tasks/{item.pk}/complete/", {"data": {"ok": True}}, format="json",
                HTTP_IDEMPOTENCY_KEY="race-complete-1",
            )
            answers.append((response.status_code, response.get("Idempotent-Replayed"), response.content))
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            answers.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=complete) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert all(isinstance(a, tuple) for a in answers), answers
    # Every caller got the one answer: the first ran it, the others waited on the key and replayed it.
    assert sorted((status, replayed or "") for status, replayed, _body in answers) == [
        (200, ""), (200, "true"), (200, "true"), (200, "true")]
    assert len({body for _s, _r, body in answers}) == 1
    assert WorkItem.objects.filter(case=case, status="completed").count() == 1
    assert WorkItem.objects.filter(case=case, status="open").count() == 1
