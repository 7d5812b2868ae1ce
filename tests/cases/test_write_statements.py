"""The hand-written statements of the case write path (cases.statements), on whichever database
the run uses: `make test` runs them on PostgreSQL, `make test-sqlite` on SQLite (the demo's)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import transaction

from accounts.roles import Role
from audit.models import AuditEvent
from cases import statements
from cases.models import Case, CaseNumberSequence, WorkItem, WorkItemStatus
from cases.projection import project
from cases.services import case_start, work_item_claim, work_item_complete
from common import clock
from common.errors import Conflict
from engine import services as engine
from engine.locks import lock_instance
from tests.engine_models import publish_bundle
from tests.factories import make_tenant, make_user

pytestmark = pytest.mark.django_db

T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)


@pytest.fixture
def office():
    clock.freeze(T0)
    publish_bundle("three_tasks")
    tenant = make_tenant()
    alice = make_user(tenant, Role.REGISTRAR)
    bruno = make_user(tenant, Role.REGISTRAR)
    case = case_start(tenant=tenant, user=alice, process_id="three_tasks", data={})
    item = WorkItem.objects.get(case=case, status=WorkItemStatus.OPEN)
    return tenant, alice, bruno, case, item


def claim_row(item, user, roles=("registrar",)):
    return statements.work_item_claim_row(
        work_item_id=item.pk, tenant_id=item.tenant_id, user_id=user.pk, username=user.username,
        roles=roles, now=clock.now(),
    )


def test_a_claim_row_comes_back_converted_with_its_case(office):
    tenant, alice, _bruno, case, item = office

    claimed, number, process_id = claim_row(item, alice)

    assert (claimed.pk, claimed.assignee_id, claimed.claimed_at) == (item.pk, alice.pk, T0)
    assert isinstance(claimed.claimed_at, dt.datetime) and claimed.due_at == item.due_at
    assert (number, process_id) == (case.number, "three_tasks")
    assert WorkItem.objects.get(pk=item.pk).assignee_id == alice.pk


def test_a_claim_row_matches_nothing_when_a_rule_fails(office):
    tenant, alice, bruno, _case, item = office
    assert claim_row(item, alice, roles=("police",)) is None  # not the user's role
    assert claim_row(item, alice, roles=()) is None  # no role at all
    WorkItem.objects.filter(pk=item.pk).update(excluded_username=alice.username)
    assert claim_row(item, alice) is None  # four-eyes
    WorkItem.objects.filter(pk=item.pk).update(excluded_username="")
    assert claim_row(item, bruno, roles=None) is not None  # a supervisor: any role
    assert claim_row(item, alice) is None  # already claimed
    assert WorkItem.objects.get(pk=item.pk).assignee_id == bruno.pk


def test_the_claim_service_answers_as_before_on_each_refusal(office):
    tenant, alice, bruno, _case, item = office
    claimed = work_item_claim(work_item_id=item.pk, tenant=tenant, user=alice)
    assert (claimed.assignee, claimed.case.number, claimed.claimed_at) == (alice, item.case.number, T0)
    again = work_item_claim(work_item_id=item.pk, tenant=tenant, user=alice)  # idempotent, not audited twice
    assert again.assignee_id == alice.pk
    with pytest.raises(Conflict) as refused:
        work_item_claim(work_item_id=item.pk, tenant=tenant, user=bruno)
    assert refused.value.code == "claimed_by_other"
    assert AuditEvent.objects.filter(tenant=tenant, action="claim").count() == 1


def test_case_numbers_come_from_one_update_and_the_first_of_a_year_creates_its_row(office):
    tenant = office[0]
    assert statements.case_number_next(tenant_id=tenant.pk, year=2031) is None
    CaseNumberSequence.objects.create(tenant=tenant, year=2031, last=41)
    assert statements.case_number_next(tenant_id=tenant.pk, year=2031) == 42
    assert CaseNumberSequence.objects.get(tenant=tenant, year=2031).last == 42
    assert office[3].number == "2026/000001"


def test_statements_executed_together_report_their_own_row_counts(office):
    tenant, _alice, _bruno, case, item = office
    new = WorkItem(tenant=tenant, case=case, task_id="x" * 36, bpmn_id="b", name="n", role="registrar",
                   created_at=clock.now())
    counts = statements.execute_together([
        statements.update_sql(WorkItem.objects.filter(pk=item.pk), name="Rinominato"),
        statements.update_sql(WorkItem.objects.filter(pk=-1), name="nessuno"),
        statements.insert_sql([new]),
        statements.update_sql(Case.objects.filter(pk=case.pk), outcome="ok"),
    ])
    assert counts == [1, 0, 1, 1]
    assert WorkItem.objects.get(pk=item.pk).name == "Rinominato"
    assert WorkItem.objects.get(case=case, task_id="x" * 36).status == WorkItemStatus.OPEN
    assert Case.objects.get(pk=case.pk).outcome == "ok"


def test_a_completion_over_an_item_claimed_meanwhile_by_another_is_refused_and_rolled_back(office):
    """The completion reads the item without locking it; the projection's conditional UPDATE is
    what refuses when a claim by someone else landed in between."""
    tenant, alice, bruno, case, item = office
    revision = case.instance.revision
    WorkItem.objects.filter(pk=item.pk).update(assignee=bruno)  # the claim that landed in between
    with pytest.raises(Conflict) as refused, transaction.atomic():
        instance = lock_instance(case.instance_id)
        engine.instance_complete_task(
            instance=instance, task_id=item.task_id, data={"ok": True}, actor_username=alice.username,
            projector=project,
        )
    assert refused.value.code == "claimed_by_other"
    case.instance.refresh_from_db()
    assert case.instance.revision == revision
    assert WorkItem.objects.filter(case=case, status=WorkItemStatus.OPEN).count() == 1


def test_a_completed_case_is_closed_by_the_projection_in_one_update(office):
    tenant, alice, _bruno, case, _item = office
    for _ in range(3):
        item = WorkItem.objects.get(case=case, status=WorkItemStatus.OPEN)
        work_item_complete(work_item_id=item.pk, tenant=tenant, user=alice, data={"ok": True})
    case.refresh_from_db()
    assert (case.status, case.closed_at) == ("closed", T0)
    assert case.data["third"] == {"ok": True}
    assert set(WorkItem.objects.filter(case=case).values_list("status", "completed_by")) == {("completed", alice.pk)}


def test_the_instance_save_sent_with_the_projection_still_refuses_a_stale_revision(office):
    """The runtime hands its UPDATE to the projection (one round trip); the revision check holds."""
    from engine.models import WorkflowInstance
    from engine.types import StaleInstance

    tenant, alice, _bruno, case, item = office
    with pytest.raises(StaleInstance), transaction.atomic():
        instance = lock_instance(case.instance_id)
        # A writer that did not take the lock moves the revision under us.
        WorkflowInstance.objects.filter(pk=instance.pk).update(revision=instance.revision + 5)
        engine.instance_complete_task(
            instance=instance, task_id=item.task_id, data={"ok": True}, actor_username=alice.username,
            projector=project,
        )
    assert WorkItem.objects.get(pk=item.pk).status == WorkItemStatus.OPEN


def test_a_projector_that_does_not_send_the_save_leaves_it_to_the_runtime(office):
    tenant, alice, _bruno, case, item = office
    seen = []
    with transaction.atomic():
        instance = lock_instance(case.instance_id)
        before = instance.revision
        engine.instance_complete_task(
            instance=instance, task_id=item.task_id, data={"ok": True}, actor_username=alice.username,
            projector=seen.append,
        )
    case.instance.refresh_from_db()
    assert case.instance.revision == before + 1 and seen[0].pending_save.done
    assert "first_completed_by" in case.instance.state  # the state was written


def test_the_completion_read_brings_item_case_and_instance_and_nothing_of_another_tenant(office):
    tenant, _alice, _bruno, case, item = office
    with transaction.atomic():
        read = statements.work_item_for_completion(work_item_id=item.pk, tenant=tenant)
        assert (read.pk, read.task_id, read.created_at, read.due_at) == (item.pk, item.task_id, item.created_at, item.due_at)
        assert (read.case.number, read.case.opened_at, read.case.process_version_id) == (
            case.number, case.opened_at, case.process_version_id)
        assert {"data", "subjects"} <= read.case.get_deferred_fields()
        instance = read.case.instance
        assert (instance.pk, instance.revision, instance.state) == (
            case.instance_id, case.instance.revision, case.instance.state)
        assert instance.tenant is tenant
        assert statements.work_item_for_completion(work_item_id=item.pk, tenant=make_tenant("Altro")) is None


def _data_statements(ctx) -> list[str]:
    control = {"BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE"}
    return [q["sql"] for q in ctx.captured_queries if q["sql"].split(" ", 1)[0].rstrip(";").upper() not in control]


@pytest.mark.postgres
def test_a_completion_carries_its_audit_event_in_the_projection_statement(office):
    """Lock read, then one statement: instance save, work items, case row and the audit append."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from audit.services import verify_chain

    tenant, alice, _bruno, case, item = office
    with CaptureQueriesContext(connection) as ctx:
        work_item_complete(work_item_id=item.pk, tenant=tenant, user=alice, data={"ok": True})
    sql = _data_statements(ctx)
    assert len(sql) == 2 and "audit_auditevent" in sql[1] and "engine_workflowinstance" in sql[1]
    event = AuditEvent.objects.get(tenant=tenant, action="complete")
    opened = AuditEvent.objects.get(tenant=tenant, action="create", object_id=str(case.pk))
    assert (event.chain_key, event.seq) == (opened.chain_key, opened.seq + 1)  # the case's chain, in order
    assert (event.actor, event.object_id, event.after) == (alice, str(item.pk), {"ok": True})
    assert event.summary == f"Completato «{item.name}»"
    assert verify_chain(tenant=tenant).ok


@pytest.mark.postgres
def test_a_case_start_carries_its_audit_event_in_the_projection_statement(office):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from audit.services import verify_chain

    tenant, alice, *_rest = office
    with CaptureQueriesContext(connection) as ctx:
        case = case_start(tenant=tenant, user=alice, process_id="three_tasks", data={})
    sql = _data_statements(ctx)
    assert sum("audit_auditevent" in s for s in sql) == 1
    assert "cases_workitem" in sql[-1] and "audit_auditevent" in sql[-1]
    event = AuditEvent.objects.get(tenant=tenant, action="create", object_id=str(case.pk))
    assert (event.actor, event.object_repr, event.after["process"]) == (alice, case.number, "three_tasks")
    assert verify_chain(tenant=tenant).ok


@pytest.mark.postgres
def test_a_folded_append_whose_chain_head_is_missing_is_written_after_the_statement(office):
    """A tenant without chain heads yet: the statement carrying the append finds no head, its other
    writes still happen, and the event is then written the usual way (creating the heads)."""
    from audit.models import AuditChainHead
    from audit.services import audit_prepare, verify_chain

    _tenant, alice, _bruno, _case, item = office
    other = make_tenant("Senza catene")
    AuditChainHead.objects.filter(chain_key__startswith=f"{other.pk}").delete()
    with transaction.atomic():
        prepared = audit_prepare(tenant=other, actor=alice, action="system", object_type="case", object_id="7")
        folded = prepared.fold()
        counts = statements.execute_together(
            [statements.update_sql(WorkItem.objects.filter(pk=item.pk), name="Rinominato")], tail=folded)
        assert counts == [1] and folded.row == (None,) * 5
        assert prepared.accept(folded.row) is False
        prepared.write()
    event = AuditEvent.objects.get(tenant=other)
    assert (event.seq, event.object_id) == (1, "7") and prepared.written
    assert WorkItem.objects.get(pk=item.pk).name == "Rinominato"
    assert verify_chain(tenant=other).ok


@pytest.mark.postgres
def test_a_case_insert_numbered_takes_the_years_next_number_and_reserves_its_instance_key(office):
    from engine.models import WorkflowInstance

    tenant, alice, _bruno, case, _item = office
    fields = dict(tenant=tenant, process_id="three_tasks", process_version=case.process_version, title="t",
                  subjects=[], data={}, opened_at=T0, updated_at=T0, created_by=alice)
    first, second, big = Case(**fields), Case(**fields), Case(**fields)
    with transaction.atomic():
        reserved = statements.case_insert_numbered(first, year=2031)  # the year's first: its row is created
        statements.case_insert_numbered(second, year=2031)
        CaseNumberSequence.objects.filter(tenant=tenant, year=2031).update(last=999_999)
        statements.case_insert_numbered(big, year=2031)
    assert (first.number, second.number, big.number) == ("2031/000001", "2031/000002", "2031/1000000")
    assert f"{2031}/{1_000_000:06d}" == big.number  # the format of cases.services._next_number
    assert Case.objects.get(pk=first.pk).created_by == alice and not first._state.adding
    assert CaseNumberSequence.objects.get(tenant=tenant, year=2031).last == 1_000_000
    assert reserved > case.instance_id and not WorkflowInstance.objects.filter(pk=reserved).exists()


@pytest.mark.postgres
def test_a_case_start_is_two_statements_in_its_transaction(office):
    """Number + case row + the instance's key; then instance, subjects, work items, the case's link and
    the audit event in the projection's statement."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from cases.models import CaseSubject

    tenant, alice, *_rest = office
    with CaptureQueriesContext(connection) as ctx:
        case = case_start(tenant=tenant, user=alice, process_id="three_tasks", data={})
    writes = [s for s in _data_statements(ctx) if not s.startswith("SELECT")]  # the reads: roles, version
    assert len(writes) == 2 and "cases_casenumbersequence" in writes[0]
    assert "engine_workflowinstance" in writes[1] and "audit_auditevent" in writes[1]
    case.refresh_from_db()
    assert case.instance.case_id == case.pk and case.instance.revision == 1 and case.status == "open"
    assert WorkItem.objects.filter(case=case, status=WorkItemStatus.OPEN).count() == 1
    assert not CaseSubject.objects.filter(case=case).exists()


@pytest.mark.postgres
def test_a_claim_carries_its_audit_event_in_its_update(office):
    """One data statement: the conditional UPDATE of the work item and the append of its event, with the
    event's text taken from the claimed row in the case's chain, hashed as the Python hash says."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from audit.services import verify_chain

    tenant, alice, _bruno, case, item = office
    WorkItem.objects.filter(pk=item.pk).update(name='Verifica «d\'identità» "urgente"\tbis')  # quotes, tab, accents
    with CaptureQueriesContext(connection) as ctx:
        claimed = work_item_claim(work_item_id=item.pk, tenant=tenant, user=alice, ip="10.1.2.3")
    sql = [s for s in _data_statements(ctx) if not s.startswith("SELECT")]
    assert len(sql) == 1 and "cases_workitem" in sql[0] and "audit_auditevent" in sql[0]
    assert claimed.assignee == alice and claimed.case.number == case.number
    event = AuditEvent.objects.get(tenant=tenant, action="claim")
    opened = AuditEvent.objects.get(tenant=tenant, action="create", object_id=str(case.pk))
    assert (event.chain_key, event.seq) == (opened.chain_key, opened.seq + 1)  # the case's chain, in order
    assert (event.actor, event.object_id, event.ip) == (alice, str(item.pk), "10.1.2.3")
    assert event.object_repr == f'{case.number}: Verifica «d\'identità» "urgente"\tbis'
    assert event.summary == 'Preso in carico «Verifica «d\'identità» "urgente"\tbis»'
    assert verify_chain(tenant=tenant).ok


@pytest.mark.postgres
def test_a_claim_that_matches_nothing_appends_nothing_and_locks_no_chain(office):
    from audit.models import AuditChainHead
    from audit.services import audit_prepare

    tenant, alice, _bruno, _case, item = office
    heads = list(AuditChainHead.objects.filter(chain_key__startswith=str(tenant.pk)).values_list("chain_key", "last_seq"))
    with transaction.atomic():
        prepared = audit_prepare(tenant=tenant, actor=alice, action="claim", object_type="work_item",
                                 object_id=str(item.pk))
        assert statements.work_item_claim_row(
            work_item_id=item.pk, tenant_id=tenant.pk, user_id=alice.pk, username=alice.username,
            roles=("police",), now=clock.now(), audit=prepared, summary_format="Preso in carico «%(t)s»",
        ) is None
        assert not prepared.written
    assert not AuditEvent.objects.filter(tenant=tenant, action="claim").exists()
    assert list(AuditChainHead.objects.filter(chain_key__startswith=str(tenant.pk))
                .values_list("chain_key", "last_seq")) == heads


@pytest.mark.postgres
def test_a_claim_whose_chain_head_is_missing_still_writes_its_event(office):
    """The tenant's first event (no chain heads yet): the claim happens, its event is written after."""
    from audit.models import AuditChainHead
    from audit.services import audit_prepare, verify_chain

    _tenant, alice, _bruno, case, item = office
    other = make_tenant("Senza catene")  # stands for the claim's tenant on the audit side
    AuditChainHead.objects.filter(chain_key__startswith=f"{other.pk}").delete()
    with transaction.atomic():
        prepared = audit_prepare(tenant=other, actor=alice, action="claim", object_type="work_item",
                                 object_id=str(item.pk))
        claimed = statements.work_item_claim_row(
            work_item_id=item.pk, tenant_id=item.tenant_id, user_id=alice.pk, username=alice.username,
            roles=("registrar",), now=clock.now(), audit=prepared, summary_format="Preso in carico «%(t)s»",
        )
    assert claimed is not None and prepared.written
    event = AuditEvent.objects.get(tenant=other)
    assert (event.seq, event.object_repr) == (1, f"{case.number}: {item.name}")
    assert WorkItem.objects.get(pk=item.pk).assignee_id == alice.pk
    assert verify_chain(tenant=other).ok
