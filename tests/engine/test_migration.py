"""Migration of running cases to another version of their process (issue 15): plans, dry runs,
batches, revert. Every case is real (cases.services), so work items, deadlines and audit are
checked as an operator and an auditor would see them."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from django.db import connection

from accounts.roles import Role
from audit.models import AuditEvent
from cases.models import Case, WorkItem
from cases.services import case_start, work_item_claim, work_item_complete
from common import clock
from common.errors import Conflict, ValidationFailed
from engine import migration
from engine.models import (
    BatchMode,
    BatchStatus,
    CaseOutcome,
    MigrationCaseResult,
    WorkflowInstance,
)
from tests.engine.migration_models import Model, Step, linear, publish
from tests.factories import make_tenant, make_user

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]


@pytest.fixture
def office():
    tenant = make_tenant()
    return {
        "tenant": tenant,
        "registrar": make_user(tenant, Role.REGISTRAR),
        "admin": make_user(tenant, Role.PROCESS_ADMIN),
    }


def start(office, process_id: str, data: dict | None = None) -> Case:
    return case_start(tenant=office["tenant"], user=office["registrar"], process_id=process_id, data=data or {})


def open_items(case: Case) -> list[WorkItem]:
    return list(WorkItem.objects.filter(case=case, status="open").order_by("pk"))


def complete(office, case: Case, bpmn_id: str, data: dict | None = None) -> None:
    item = WorkItem.objects.get(case=case, bpmn_id=bpmn_id, status="open")
    work_item_complete(work_item_id=item.pk, tenant=office["tenant"], user=office["registrar"], data=data or {})


def plan_for(office, source, target, **document):
    return migration.plan_create(tenant=office["tenant"], user=office["admin"], source_version_id=source.pk,
                                 target_version_id=target.pk, document=document)


def run(office, plan, mode=BatchMode.EXECUTE, **filters):
    batch = migration.batch_create(plan=plan, user=office["admin"], mode=mode, filters=filters, queue=False)
    return migration.batch_run(batch.pk)


def result_of(batch, case: Case) -> MigrationCaseResult:
    return MigrationCaseResult.objects.get(batch=batch, instance_id=case.instance_id)


def reload(case: Case) -> Case:
    return Case.objects.select_related("instance").get(pk=case.pk)


# --------------------------------------------------------------------------- the token and the new model


def test_a_case_before_an_inserted_task_walks_through_it_after_migration(office):
    v1 = publish(linear("p", "a", "b"))
    case = start(office, "p")
    v2 = publish(linear("p", "a", "x", "b"))
    batch = run(office, plan_for(office, v1, v2))

    assert batch.status == BatchStatus.DONE and (batch.ok, batch.refused, batch.failed) == (1, 0, 0)
    case = reload(case)
    assert case.process_version_id == v2.pk and case.instance.process_version_id == v2.pk
    complete(office, case, "a")
    assert [i.bpmn_id for i in open_items(case)] == ["x"]
    complete(office, case, "x")
    complete(office, case, "b")
    assert reload(case).status == "closed"


def test_a_case_past_an_inserted_task_stays_where_it_is_and_keeps_its_work_item(office):
    v1 = publish(linear("p", "a", "b"))
    case = start(office, "p")
    complete(office, case, "a")
    item = open_items(case)[0]
    work_item_claim(work_item_id=item.pk, tenant=office["tenant"], user=office["registrar"])
    v2 = publish(linear("p", "a", "x", "b"))
    run(office, plan_for(office, v1, v2))

    [kept] = open_items(case)
    assert kept.pk == item.pk and kept.bpmn_id == "b" and kept.assignee_id == office["registrar"].pk
    complete(office, case, "b")
    assert reload(case).status == "closed"  # x came before the token: it is not run


def test_a_renamed_task_is_mapped_by_the_plan_and_its_work_item_follows(office):
    v1 = publish(linear("p", "a", "b", "c"))
    case = start(office, "p")
    complete(office, case, "a")
    item = open_items(case)[0]
    v2 = publish(linear("p", "a", "b_new", "c", b_new=Step("b_new", name="Verifica nuova", due='"2027-01-31"')))
    plan = plan_for(office, v1, v2, overrides={"b": "b_new"})
    assert plan.document["overrides"] == {"b": "b_new"}
    assert {r["id"]: r["how"] for r in migration.mapping_rows(plan)}["b"] == "plan"
    batch = run(office, plan)

    assert result_of(batch, case).outcome == CaseOutcome.MIGRATED
    [moved] = open_items(case)
    assert (moved.pk, moved.bpmn_id, moved.name, moved.due_at) == (item.pk, "b_new", "Verifica nuova", dt.date(2027, 1, 31))
    complete(office, case, "b_new")
    assert [i.bpmn_id for i in open_items(case)] == ["c"]


def test_a_removed_active_task_is_refused_with_its_reason_and_the_others_move(office):
    v1 = publish(linear("p", "a", "b", "c"))
    at_b = start(office, "p")
    complete(office, at_b, "a")
    at_a = start(office, "p")
    v2 = publish(linear("p", "a", "c"))
    plan = plan_for(office, v1, v2)

    dry = run(office, plan, BatchMode.DRY_RUN)
    refused = result_of(dry, at_b)
    assert refused.outcome == CaseOutcome.REFUSED and refused.code == "active_task_removed"
    assert "attività attiva «B» (`b`) rimossa e non mappata" in refused.message
    assert result_of(dry, at_a).outcome == CaseOutcome.OK
    assert result_of(dry, at_a).details["after"] == ["A"]
    assert reload(at_a).instance.process_version_id == v1.pk  # a dry run changes nothing

    batch = run(office, plan)
    assert (batch.ok, batch.refused) == (1, 1)
    assert reload(at_b).instance.process_version_id == v1.pk
    assert [i.bpmn_id for i in open_items(at_b)] == ["b"]
    assert reload(at_a).instance.process_version_id == v2.pk


def test_a_migration_is_audited_with_the_hashes_of_both_versions(office):
    v1 = publish(linear("p", "a", "b"))
    case = start(office, "p")
    v2 = publish(linear("p", "a", "x", "b"))
    plan = plan_for(office, v1, v2)
    run(office, plan)
    event = AuditEvent.objects.filter(object_type="case", object_id=str(case.pk)).order_by("-pk").first()
    assert event.actor_username == office["admin"].username
    assert event.before["hash"] == v1.content_hash and event.after["hash"] == v2.content_hash
    assert AuditEvent.objects.filter(object_type="migration_plan", object_id=str(plan.pk), action="create").exists()


def test_variables_of_the_plan_are_set_on_the_moved_cases(office):
    v1 = publish(linear("p", "a", "b"))
    case = start(office, "p")
    v2 = publish(linear("p", "a", "b", "c"))
    run(office, plan_for(office, v1, v2, variables={"review_required": True}))
    complete(office, case, "a")
    assert reload(case).data["review_required"] is True


def test_a_changed_task_that_already_ran_is_refused_unless_the_plan_accepts_it(office):
    v1 = publish(Model("p", [Step("calc", kind="script", script="total = 1"), Step("a")]))
    case = start(office, "p")
    v2 = publish(Model("p", [Step("calc", kind="script", script="total = 2"), Step("a")]))
    refused = result_of(run(office, plan_for(office, v1, v2), BatchMode.DRY_RUN), case)
    assert refused.code == "changed_task_already_ran" and "`calc`" in refused.message

    accepted = run(office, plan_for(office, v1, v2, accept_changed=["calc"]))
    assert result_of(accepted, case).outcome == CaseOutcome.MIGRATED


# --------------------------------------------------------------------------- timers


def test_a_boundary_timer_keeps_its_due_date_unless_the_plan_reschedules_it(office):
    clock.freeze(dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC))
    v1 = publish(linear("p", "a", "b", b=Step("b", timer=("deadline", "P5D"))))
    kept, restarted, moved = (start(office, "p") for _ in range(3))
    for case in (kept, restarted, moved):
        complete(office, case, "a")
    due_before = reload(kept).instance.next_timer_at
    assert due_before == dt.datetime(2026, 12, 6, 9, 0, tzinfo=dt.UTC)
    v2 = publish(linear("p", "a", "b", b=Step("b", timer=("deadline", "P20D"))))
    clock.advance(dt.timedelta(days=1))

    run(office, plan_for(office, v1, v2), instances=[kept.instance_id])
    batch = run(office, plan_for(office, v1, v2, timers={"deadline": "restart"}), instances=[restarted.instance_id])
    run(office, plan_for(office, v1, v2, timers={"deadline": "2027-01-15T12:00:00+00:00"}), instances=[moved.instance_id])

    assert reload(kept).instance.next_timer_at == due_before
    assert reload(restarted).instance.next_timer_at == dt.datetime(2026, 12, 22, 9, 0, tzinfo=dt.UTC)
    assert result_of(batch, restarted).details["timers"][0]["rule"] == "restart"
    assert reload(moved).instance.next_timer_at == dt.datetime(2027, 1, 15, 12, 0, tzinfo=dt.UTC)
    # the kept timer still fires on its old date, on the new model
    from engine.timers import fire_due_timers

    clock.freeze(dt.datetime(2026, 12, 6, 10, 0, tzinfo=dt.UTC))
    assert fire_due_timers() == 1
    assert reload(kept).instance.status == "completed" and reload(kept).data["timed_out"] is True
    assert reload(restarted).instance.status == "running"


# --------------------------------------------------------------------------- multi-instance and call activities


def test_a_running_multi_instance_moves_when_unchanged_and_is_refused_when_changed(office):
    v1 = publish(Model("p", [Step("reviewing", kind="multi"), Step("z")]))
    case = start(office, "p", {"members": ["anna", "bruno"]})
    first = open_items(case)[0]
    work_item_complete(work_item_id=first.pk, tenant=office["tenant"], user=office["registrar"], data={"ok": 1})
    v2 = publish(Model("p", [Step("reviewing", kind="multi"), Step("y"), Step("z")]))
    batch = run(office, plan_for(office, v1, v2))
    assert result_of(batch, case).outcome == CaseOutcome.MIGRATED, result_of(batch, case).message
    [second] = open_items(case)
    work_item_complete(work_item_id=second.pk, tenant=office["tenant"], user=office["registrar"], data={"ok": 2})
    assert [i.bpmn_id for i in open_items(case)] == ["y"]
    assert sorted(r["ok"] for r in reload(case).data["reviews"]) == [1, 2]

    other = start(office, "p", {"members": ["carla"]})
    v3 = publish(Model("p", [Step("reviewing", kind="multi", lane="supervisor"), Step("y"), Step("z")],))
    v3_script = publish(Model("p", [Step("reviewing", kind="multi", script="sequential"), Step("y"), Step("z")]))
    refused = result_of(run(office, plan_for(office, v2, v3_script), BatchMode.DRY_RUN), other)
    assert refused.outcome == CaseOutcome.REFUSED and refused.code == "multi_instance_changed"
    assert "multi-istanza" in refused.message
    assert v3  # a lane change alone is not a change of the loop


def test_a_running_call_activity_moves_with_its_called_process_or_is_refused_clearly(office):
    kid_v1 = Model("kid", [Step("k1"), Step("k2")])
    v1 = publish(Model("p", [Step("call", kind="call", called="kid"), Step("z")]), children=(kid_v1,))
    case = start(office, "p")
    assert [i.bpmn_id for i in open_items(case)] == ["k1"]
    v2 = publish(Model("p", [Step("call", kind="call", called="kid"), Step("z")]),
                 children=(Model("kid", [Step("k1"), Step("k_new"), Step("k2")]),))
    batch = run(office, plan_for(office, v1, v2))
    assert result_of(batch, case).outcome == CaseOutcome.MIGRATED, result_of(batch, case).message
    complete(office, case, "k1")
    assert [i.bpmn_id for i in open_items(case)] == ["k_new"]

    v3 = publish(Model("p", [Step("call", kind="call", called="kid"), Step("z")]),
                 children=(Model("kid", [Step("k_other"), Step("k2")]),))
    refused = result_of(run(office, plan_for(office, v2, v3), BatchMode.DRY_RUN), case)
    reasons = {r["code"]: r["element"] for r in refused.details["reasons"]}
    assert reasons == {"active_task_removed": "k_new", "finished_task_removed": "k1"}
    assert "attività attiva «K new» (`k_new`) rimossa e non mappata" in refused.message


# --------------------------------------------------------------------------- revert


def test_a_migrated_case_is_reverted_when_nothing_happened_since(office):
    v1 = publish(linear("p", "a", "b"))
    case = start(office, "p")
    item = open_items(case)[0]
    v2 = publish(linear("p", "a_new", "b", a_new=Step("a_new", name="Nuovo A")))
    batch = run(office, plan_for(office, v1, v2, overrides={"a": "a_new"}))
    assert open_items(case)[0].name == "Nuovo A"

    result = migration.migration_revert(tenant=office["tenant"], user=office["admin"],
                                        result_id=result_of(batch, case).pk)
    assert result.outcome == CaseOutcome.REVERTED
    case = reload(case)
    assert case.instance.process_version_id == v1.pk and case.process_version_id == v1.pk
    [back] = open_items(case)
    assert (back.pk, back.bpmn_id, back.name) == (item.pk, "a", item.name)
    with pytest.raises(Conflict) as second:
        migration.migration_revert(tenant=office["tenant"], user=office["admin"], result_id=result.pk)
    assert second.value.code == "already_reverted"
    complete(office, case, "a")
    assert [i.bpmn_id for i in open_items(case)] == ["b"]


def test_a_migrated_case_that_moved_on_is_not_reverted(office):
    v1 = publish(linear("p", "a", "b"))
    case = start(office, "p")
    v2 = publish(linear("p", "a", "x", "b"))
    batch = run(office, plan_for(office, v1, v2))
    complete(office, case, "a")
    with pytest.raises(Conflict) as refused:
        migration.migration_revert(tenant=office["tenant"], user=office["admin"], result_id=result_of(batch, case).pk)
    assert refused.value.code == "changed_since" and "andata avanti" in refused.value.message
    assert reload(case).instance.process_version_id == v2.pk


# --------------------------------------------------------------------------- plans and batches


def test_a_plan_with_unknown_elements_or_bad_rules_is_refused_field_by_field(office):
    v1 = publish(Model("p", [Step("a"), Step("s", kind="script", script="x = 1")]))
    v2 = publish(Model("p", [Step("a2"), Step("s", kind="script", script="x = 1")]))
    with pytest.raises(ValidationFailed) as exc:
        plan_for(office, v1, v2, overrides={"ghost": "a2", "a": "s"}, variables={"case_id": 1, "bad name": 2},
                 timers={"nothing": "restart"}, accept_changed=["ghost"])
    details = exc.value.details
    assert set(details) == {"overrides", "variables", "timers", "accept_changed"}
    assert any("tipo diverso" in m for m in details["overrides"])
    with pytest.raises(ValidationFailed):
        plan_for(office, v1, v1)
    with pytest.raises(ValidationFailed) as malformed:
        migration.plan_create(tenant=office["tenant"], user=office["admin"], source_version_id=v1.pk,
                              target_version_id=v2.pk, document={"overrides": ["a"]})
    assert malformed.value.code == "plan_malformed"


def test_a_failing_case_is_recorded_and_the_batch_goes_on(office):
    v1 = publish(linear("p", "a", "b"))
    broken, fine = start(office, "p"), start(office, "p")
    WorkflowInstance.objects.filter(pk=broken.instance_id).update(state='{"not": "a workflow"}')
    v2 = publish(linear("p", "a", "x", "b"))
    batch = run(office, plan_for(office, v1, v2))
    assert (batch.total, batch.processed, batch.ok, batch.failed) == (2, 2, 1, 1)
    assert result_of(batch, broken).outcome == CaseOutcome.FAILED
    assert result_of(batch, broken).message.startswith("la migrazione non è riuscita")
    assert reload(fine).instance.process_version_id == v2.pk


def test_a_batch_filters_by_current_task_and_leaves_other_tenants_alone(office):
    v1 = publish(linear("p", "a", "b"))
    at_a, at_b = start(office, "p"), start(office, "p")
    complete(office, at_b, "a")
    other = make_tenant(name="Comune di Altrove")
    theirs = case_start(tenant=other, user=make_user(other, Role.REGISTRAR), process_id="p", data={})
    v2 = publish(linear("p", "a", "b", "c"))
    batch = run(office, plan_for(office, v1, v2), current_task="b")
    assert batch.total == 2 and (batch.ok, batch.skipped) == (1, 1)
    assert result_of(batch, at_a).code == "not_at_task"
    assert reload(at_b).instance.process_version_id == v2.pk
    assert reload(at_a).instance.process_version_id == v1.pk
    assert reload(theirs).instance.process_version_id == v1.pk
    assert not MigrationCaseResult.objects.filter(instance_id=theirs.instance_id).exists()


# --------------------------------------------------------------------------- the lock order


def _wait_for_a_lock_waiter() -> None:
    """Until another session of this database waits on a row lock (the migration, blocked)."""
    import time

    deadline = time.monotonic() + 10
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                           "AND wait_event_type = 'Lock'")
            if cursor.fetchone()[0]:
                return
            time.sleep(0.05)
    raise AssertionError("the migration never waited for the instance lock")


@pytest.mark.django_db(transaction=True)
def test_a_completion_and_a_migration_at_the_same_time_serialise_on_the_instance_lock(office):
    """The completion holds the instance row; the migration waits for it, then sees the case at
    `b` on a new revision and moves it from there: nothing lost, nothing done twice."""
    v1 = publish(linear("p", "a", "b"))
    case = start(office, "p")
    v2 = publish(linear("p", "a", "b", "c"))
    plan = plan_for(office, v1, v2)
    batch = migration.batch_create(plan=plan, user=office["admin"], mode=BatchMode.EXECUTE, queue=False)
    item = open_items(case)[0]
    holding, release = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    from django.db import transaction

    from engine.locks import lock_instance

    def complete_slowly():
        try:
            with transaction.atomic():
                lock_instance(case.instance_id)  # what a completion takes first (engine.locks level 1)
                holding.set()
                release.wait(10)
                work_item_complete(work_item_id=item.pk, tenant=office["tenant"], user=office["registrar"], data={})
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    def migrate():
        try:
            holding.wait(10)
            migration.batch_run(batch.pk)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=complete_slowly), threading.Thread(target=migrate)]
    for t in threads:
        t.start()
    holding.wait(10)
    _wait_for_a_lock_waiter()
    release.set()
    for t in threads:
        t.join(30)
    assert not errors
    assert MigrationCaseResult.objects.get(batch=batch).outcome == CaseOutcome.MIGRATED
    case = reload(case)
    assert case.instance.process_version_id == v2.pk
    assert [i.bpmn_id for i in open_items(case)] == ["b"]
    assert WorkItem.objects.get(pk=item.pk).status == "completed"
    complete(office, case, "b")
    assert [i.bpmn_id for i in open_items(case)] == ["c"]


# --------------------------------------------------------------------------- the command


def test_the_command_prints_progress_and_verdicts_and_migrates_without_dry_run(office):
    from io import StringIO

    from django.core.management import call_command

    v1 = publish(linear("p", "a", "b"))
    at_a, at_b = start(office, "p"), start(office, "p")
    complete(office, at_b, "a")
    v2 = publish(linear("p", "a", "c"))
    plan = plan_for(office, v1, v2)
    out = StringIO()
    call_command("migrate_cases", plan=plan.pk, dry_run=True, stdout=out)
    text = out.getvalue()
    assert "[2/2] 100%" in text and "[active_task_removed]" in text and "Concluso: 1 migrabili, 1 rifiutate" in text
    assert reload(at_a).instance.process_version_id == v1.pk

    out = StringIO()
    call_command("migrate_cases", plan=plan.pk, stdout=out)
    assert "Concluso: 1 migrate, 1 rifiutate" in out.getvalue()
    assert reload(at_a).instance.process_version_id == v2.pk


# --------------------------------------------------------------------------- pages


@pytest.fixture
def staff(office):
    tenant = office["tenant"]
    return {**office, "supervisor": make_user(tenant, Role.SUPERVISOR)}


def _client(user):
    from tests.factories import second_factor_client

    return second_factor_client(user)


def test_the_process_admin_writes_a_plan_runs_it_and_reverts_a_case_from_the_pages(staff):
    v1 = publish(linear("p", "a", "b"))
    at_a, at_b = start(staff, "p"), start(staff, "p")
    complete(staff, at_b, "a")
    v2 = publish(linear("p", "a_new", "c", a_new=Step("a_new", name="Nuovo A")))
    client = _client(staff["admin"])

    assert "Migrazioni" in client.get("/amministrazione/migrazioni/").content.decode()
    form = client.get("/amministrazione/migrazioni/nuovo/").content.decode()
    assert f'value="{v1.pk}"' in form and "1 pratica in corso" not in form and "2 pratiche in corso" in form
    bad = client.post("/amministrazione/migrazioni/nuovo/", {
        "source": v1.pk, "target": v2.pk, "overrides": "a = ghost\nnot a line", "variables": "{oops",
    })
    text = bad.content.decode()
    assert bad.status_code == 200
    assert "Riga 2: scrivi «elemento = valore»." in text and "Le variabili devono essere un oggetto JSON." in text
    bad = client.post("/amministrazione/migrazioni/nuovo/", {"source": v1.pk, "target": v2.pk, "overrides": "a = ghost"})
    assert "L&#x27;elemento «ghost» non esiste nella versione di arrivo." in bad.content.decode()

    created = client.post("/amministrazione/migrazioni/nuovo/", {
        "source": v1.pk, "target": v2.pk, "overrides": "a = a_new", "title": "Rinomina A",
    })
    plan = migration.plan_list(tenant=staff["tenant"]).get()
    assert created.status_code == 302 and created["Location"] == f"/amministrazione/migrazioni/{plan.pk}/"
    page = client.get(created["Location"]).content.decode()
    assert "Rinomina A" in page and "dal piano" in page and "nessuna (rimosso)" in page  # b has no counterpart

    launched = client.post(f"/amministrazione/migrazioni/{plan.pk}/lotti/", {"mode": "dry_run", "statuses": ["running"]})
    batch = plan.batches.get()
    assert launched["Location"] == f"/amministrazione/migrazioni/lotti/{batch.pk}/"
    running = client.get(launched["Location"]).content.decode()
    assert 'hx-trigger="every 2s"' in running and 'http-equiv="refresh"' in running  # polls, or refreshes without JS
    migration.batch_run(batch.pk)
    done = client.get(launched["Location"]).content.decode()
    assert 'hx-trigger' not in done and "attività attiva «B» (`b`) rimossa e non mappata" in done
    fragment = client.get(f"/amministrazione/migrazioni/lotti/{batch.pk}/avanzamento/").content.decode()
    assert "2 pratiche esaminate su 2" in fragment and "1 migrabili" in fragment

    client.post(f"/amministrazione/migrazioni/{plan.pk}/lotti/", {"mode": "execute"})
    execute = plan.batches.get(mode="execute")
    migration.batch_run(execute.pk)
    assert reload(at_a).instance.process_version_id == v2.pk
    page = client.get(f"/amministrazione/migrazioni/lotti/{execute.pk}/").content.decode()
    assert "Riporta indietro" in page
    result = result_of(execute, at_a)
    reverted = client.post(f"/amministrazione/migrazioni/risultati/{result.pk}/ripristina/", follow=True)
    assert "riportata alla versione precedente" in reverted.content.decode()
    assert reload(at_a).instance.process_version_id == v1.pk
    again = client.post(f"/amministrazione/migrazioni/risultati/{result.pk}/ripristina/", follow=True)
    assert "già stata riportata" in again.content.decode()


def test_supervisors_read_migrations_without_changing_anything_and_others_are_kept_out(staff):
    v1 = publish(linear("p", "a", "b"))
    case = start(staff, "p")
    v2 = publish(linear("p", "a", "x", "b"))
    plan = plan_for(staff, v1, v2)
    batch = run(staff, plan)
    result = result_of(batch, case)

    supervisor = _client(staff["supervisor"])
    for url in ("/amministrazione/migrazioni/", f"/amministrazione/migrazioni/{plan.pk}/",
                f"/amministrazione/migrazioni/lotti/{batch.pk}/"):
        response = supervisor.get(url)
        assert response.status_code == 200, url
        assert "Riporta indietro" not in response.content.decode() and "Esegui la migrazione" not in response.content.decode()
    assert supervisor.get("/amministrazione/migrazioni/nuovo/").status_code == 403
    assert supervisor.post(f"/amministrazione/migrazioni/{plan.pk}/lotti/", {"mode": "execute"}).status_code == 403
    assert supervisor.post(f"/amministrazione/migrazioni/risultati/{result.pk}/ripristina/").status_code == 403
    assert reload(case).instance.process_version_id == v2.pk

    registrar = _client(staff["registrar"])
    assert registrar.get("/amministrazione/migrazioni/").status_code == 403
    assert registrar.get(f"/amministrazione/migrazioni/lotti/{batch.pk}/").status_code == 403

    other = make_tenant(name="Comune di Altrove")
    outsider = _client(make_user(other, Role.PROCESS_ADMIN))
    assert outsider.get(f"/amministrazione/migrazioni/{plan.pk}/").status_code == 404
    assert outsider.get(f"/amministrazione/migrazioni/lotti/{batch.pk}/").status_code == 404
    assert outsider.get(f"/amministrazione/migrazioni/lotti/{batch.pk}/avanzamento/").status_code == 404
    assert outsider.post(f"/amministrazione/migrazioni/risultati/{result.pk}/ripristina/").status_code == 404
    assert outsider.post(f"/amministrazione/migrazioni/{plan.pk}/lotti/", {"mode": "execute"}).status_code == 404
    assert outsider.get("/amministrazione/migrazioni/nonsense/").status_code == 404
    assert reload(case).instance.process_version_id == v2.pk


def test_hostile_plan_documents_are_refused_with_a_message_not_an_error(staff):
    v1 = publish(linear("p", "a"))
    v2 = publish(linear("p", "a", "b"))
    client = _client(staff["admin"])
    deep = "[" * 50000 + "]" * 50000
    for fields in ({"document": deep}, {"variables": deep}, {"document": '{"variables": ' + "[" * 30 + "]" * 30 + "}"},
                   {"document": "[1, 2]"}, {"document": '{"overrides": {"a": 1}}'}, {"source": "x", "target": "../1"}):
        response = client.post("/amministrazione/migrazioni/nuovo/", {"source": v1.pk, "target": v2.pk, **fields})
        assert response.status_code == 200, fields
        assert "Il piano non è stato salvato" in response.content.decode()
    assert not migration.plan_list(tenant=staff["tenant"]).exists()


def test_the_batch_task_runs_on_the_engine_queue():
    from config.celery_routes import route_task

    assert route_task("engine.tasks.migration_batch_task", (1,), {}) == {"queue": "engine"}
