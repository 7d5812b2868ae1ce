"""One SpiffWorkflow instance, owned for the duration of one transaction: load, advance, save.

`InstanceRuntime` is what every write of the engine goes through (start, complete, message,
timer, service result, retry, cancel). It is built on an instance row already locked through
`engine.locks` and, after each change:

1. runs the engine steps; a failing step becomes an incident, never an exception;
2. writes outbox rows for READY service tasks (the call itself happens later, in a worker);
3. saves the state with an optimistic check on `revision` (0 rows: `StaleInstance`);
4. hands the `StepResult` to the projector, in the same transaction;
5. queues the new outbox messages once the transaction commits.

The projector (work items, case status, system audit events) is explicit. Callers in
`cases.services` pass `cases.projection.project`; steps the engine starts on its own (timers,
outbox results, messages polled by a worker) use the one named by the
`PROCEDO_ENGINE_PROJECTOR` setting, resolved once. The engine never imports `cases`.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import traceback
from collections import OrderedDict
from typing import Any
from uuid import UUID

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connection, connections, transaction
from django.utils.module_loading import import_string
from django.utils.translation import gettext as _
from SpiffWorkflow.bpmn.specs.event_definitions.multiple import MultipleEventDefinition
from SpiffWorkflow.bpmn.specs.mixins.user_task import UserTask as UserTaskMixin
from SpiffWorkflow.exceptions import TaskNotFoundException
from SpiffWorkflow.util.task import TaskState

from accounts.models import Tenant
from common import clock

from .bundles import UserTaskMeta, parsed_specs, version_by_id, version_user_tasks
from .locks import mark_locked, require_locked
from .models import (
    Incident,
    IncidentStatus,
    InstanceStatus,
    OutboxMessage,
    OutboxStatus,
    ProcessVersion,
    WorkflowInstance,
)
from .script_helpers import parse_date
from .spiff import (
    SERIALIZER_VERSION,
    BpmnWorkflow,
    OutboxServiceTask,
    dump_workflow,
    load_workflow,
    next_timer_due,
    script_engine_for,
)
from .state_migrations import UnsupportedStateVersion
from .types import PendingSave, Projector, ReadyTask, StepResult

logger = logging.getLogger(__name__)


# --------------------------------------------------------------------------- projector


@functools.cache
def _projector_at(path: str) -> Projector:
    return import_string(path)


def _no_projection(result: StepResult) -> None:
    return None


def resolve_projector(projector: Projector | None) -> Projector:
    """The projector a caller passed, else the configured one for engine-initiated steps."""
    if projector is not None:
        return projector
    path = getattr(settings, "PROCEDO_ENGINE_PROJECTOR", "")
    return _projector_at(path) if path else _no_projection


# --------------------------------------------------------------------------- loading


def load_for_read(instance: WorkflowInstance) -> BpmnWorkflow:
    """The workflow of an instance, for reading only (no lock, never saved)."""
    spec, subprocess_specs = parsed_specs(version_by_id(instance.process_version_id))
    return load_workflow(
        instance.state,
        spec=spec,
        subprocess_specs=subprocess_specs,
        script_engine=script_engine_for(instance.tenant.work_calendar),
        stored_version=instance.serializer_version,
    )


# The workflow objects this process's own committed steps left behind, by instance id, with the exact
# state text that step saved and the version it ran on. The next write of the instance (the next task
# of the same case, often a moment later) takes it instead of deserialising the same text again: only
# when the locked row still holds that very text (any other writer changed it, or a rolled back step
# never put it here). Taking it removes it, so a step that fails cannot leave a half-changed object.
_WARM: OrderedDict[int, tuple[str, int, BpmnWorkflow]] = OrderedDict()
_WARM_MAX = 128


def _take_warm(instance: WorkflowInstance) -> BpmnWorkflow | None:
    entry = _WARM.pop(instance.pk, None) if instance.pk is not None else None
    if entry is None:
        return None
    state, version_id, workflow = entry
    if (version_id != instance.process_version_id or instance.serializer_version != SERIALIZER_VERSION
            or state != instance.state):
        return None
    workflow.script_engine = script_engine_for(instance.tenant.work_calendar)  # the calendar as it is today
    return workflow


def _keep_warm(instance_id: int, state: str, version_id: int, workflow: BpmnWorkflow) -> None:
    _WARM[instance_id] = (state, version_id, workflow)
    _WARM.move_to_end(instance_id)
    while len(_WARM) > _WARM_MAX:
        _WARM.popitem(last=False)


def forget_warm_workflows() -> None:
    _WARM.clear()


def find_task(workflow: BpmnWorkflow, task_id: str):
    try:
        return workflow.get_task_from_id(UUID(task_id))
    except (ValueError, KeyError, TypeError, TaskNotFoundException):
        return None


def ready_user_task_ids(workflow: BpmnWorkflow) -> frozenset[str]:
    return frozenset(
        str(t.id) for t in workflow.get_tasks(state=TaskState.READY) if isinstance(t.task_spec, UserTaskMixin)
    )


def ready_task(instance: WorkflowInstance, workflow: BpmnWorkflow, task, meta: UserTaskMeta | None) -> ReadyTask:
    due = None
    if meta and meta.due_expression:
        try:
            value = workflow.script_engine.evaluate(task, meta.due_expression)
            due = dt.date.fromisoformat(parse_date(value)) if value else None
        except Exception as exc:  # a broken due expression must not block the case
            logger.warning("due date of %s in instance %s failed: %s", task.task_spec.bpmn_id, instance.pk, exc)
    excluded = None
    if meta and meta.not_same_user_as:
        excluded = task.data.get(f"{meta.not_same_user_as}_completed_by")
    return ReadyTask(
        task_id=str(task.id),
        bpmn_id=task.task_spec.bpmn_id,
        name=(meta.name if meta else task.task_spec.bpmn_name) or task.task_spec.bpmn_id,
        lane=(meta.lane if meta else task.task_spec.lane),
        form=meta.form if meta else None,
        ui_form=meta.ui_form if meta else None,
        instructions=meta.instructions if meta else "",
        due_date=due,
        priority=meta.priority if meta else 2,
        not_same_user_as=meta.not_same_user_as if meta else None,
        excluded_username=excluded,
    )


def ready_tasks(instance: WorkflowInstance, workflow: BpmnWorkflow, *, ready: list | None = None) -> list[ReadyTask]:
    """Every READY user task; `ready`: the READY tasks when the caller walked the tree already."""
    metas = version_user_tasks(version_by_id(instance.process_version_id))
    return [
        ready_task(instance, workflow, t, metas.get(t.task_spec.bpmn_id))
        for t in (ready if ready is not None else workflow.get_tasks(state=TaskState.READY))
        if isinstance(t.task_spec, UserTaskMixin)
    ]


_SNAPSHOT_STATES = TaskState.READY | TaskState.WAITING | TaskState.COMPLETED


def snapshot_data(workflow: BpmnWorkflow, *, all_tasks: list | None = None) -> dict[str, Any]:
    """The case data as it stands: the data of every task reached, the latest change of a key winning.

    `all_tasks`: every task of the workflow, when the caller walked the tree already."""
    if all_tasks is not None:
        tasks = [t for t in all_tasks if t.state & _SNAPSHOT_STATES]
    else:
        tasks = list(workflow.get_tasks(state=_SNAPSHOT_STATES))
    merged = dict(workflow.data)
    # Every branch's data, the latest change winning: with parallel branches the task that changed
    # last may be a join still waiting (SpiffWorkflow gives it no data until it fires), or the other
    # branch, which never saw what a person entered on this one.
    for task in sorted(tasks, key=lambda t: t.last_state_change):
        merged.update(task.data)
    return merged


def event_definitions(task) -> list:
    """The event definitions a waiting task catches (an event-based gateway holds several)."""
    definition = getattr(task.task_spec, "event_definition", None)
    if isinstance(definition, MultipleEventDefinition):
        return list(definition.event_definitions)
    return [definition] if definition is not None else []


def _next_timer(workflow: BpmnWorkflow) -> dt.datetime | None:
    return next_timer_due(workflow)


# --------------------------------------------------------------------------- incidents and outbox


def open_incident(instance, *, kind: str, message: str, details: str, task=None, outbox=None,
                  data_error: bool = False) -> Incident | None:
    """Record a failure of one case (one open incident per task and kind)."""
    task_id = str(task.id) if task is not None else (outbox.task_id if outbox else "")
    existing = Incident.objects.filter(instance=instance, task_id=task_id, status=IncidentStatus.OPEN, kind=kind)
    if existing.exists():
        return None
    return Incident.objects.create(
        tenant=instance.tenant,
        instance=instance,
        task_id=task_id,
        task_bpmn_id=(task.task_spec.bpmn_id if task is not None else (outbox.task_bpmn_id if outbox else "")),
        task_name=(task.task_spec.bpmn_name or task.task_spec.bpmn_id) if task is not None else "",
        kind=kind,
        message=message,
        details=details[:20000],
        outbox=outbox,
        data_error=data_error,
        created_at=clock.now(),
    )


def dispatch_outbox(ids: list[int]) -> None:
    """Queue outbox deliveries (called after commit); a broker that is down is left to the sweep."""
    if getattr(settings, "PROCEDO_OUTBOX_DISPATCH", "celery") != "celery":
        return
    from .tasks import deliver_outbox_task

    for pk in ids:
        try:
            deliver_outbox_task.delay(pk)
        except Exception:  # broker down: the periodic sweep delivers it later
            logger.exception("could not queue outbox message %s; the sweep will pick it up", pk)


def _service_tasks_to_enqueue(ready: list) -> list:
    return [
        task for task in ready
        if isinstance(task.task_spec, OutboxServiceTask) and not task.internal_data.get("procedo_outbox")
    ]


def _enqueue_service_tasks(instance: WorkflowInstance, tasks: list) -> list[OutboxMessage]:
    created = []
    now = clock.now()
    for task in tasks:
        spec = task.task_spec
        params = {name: p["value"] for name, p in spec.evaluate_params(task).items()}
        message = OutboxMessage.objects.create(
            tenant=instance.tenant,
            instance=instance,
            task_id=str(task.id),
            task_bpmn_id=spec.bpmn_id,
            operation=spec.operation_name,
            params=params,
            idempotency_key=f"{instance.tenant.istat_code}-{instance.pk}-{task.id}",
            next_attempt_at=now,
            created_at=now,
            updated_at=now,
        )
        task.internal_data["procedo_outbox"] = message.pk
        created.append(message)
    return created


# --------------------------------------------------------------------------- the save statement

_INSTANCE_FIELDS = {f.name: f for f in WorkflowInstance._meta.concrete_fields}


@functools.cache
def _instance_update_sql(names: tuple[str, ...]) -> str:
    """``UPDATE ... SET <names> WHERE id = %s AND revision = %s`` (the optimistic check), its text
    built once per set of columns instead of by the ORM on every save (measured on the hot path)."""
    q = connection.ops.quote_name
    assignments = ", ".join(f"{q(_INSTANCE_FIELDS[name].column)} = %s" for name in names)
    return (
        f"UPDATE {q(WorkflowInstance._meta.db_table)} SET {assignments} "
        f"WHERE {q('id')} = %s AND {q('revision')} = %s"
    )


@functools.cache
def _instance_insert_sql() -> str:
    """``INSERT`` of a new instance row with its reserved key (InstanceRuntime.create)."""
    q = connection.ops.quote_name
    columns = [field.column for field in _INSTANCE_FIELDS.values()]
    return (
        f"INSERT INTO {q(WorkflowInstance._meta.db_table)} ({', '.join(q(c) for c in columns)}) "
        f"VALUES ({', '.join(['%s'] * len(columns))})"
    )


# --------------------------------------------------------------------------- the runtime


class InstanceRuntime:
    """A locked instance row and its loaded workflow, for one transaction."""

    def __init__(self, instance: WorkflowInstance, workflow: BpmnWorkflow, *, projector: Projector | None) -> None:
        require_locked(instance)
        self.instance = instance
        self.workflow = workflow
        self.projector = resolve_projector(projector)
        self._unsaved = False  # a row created in this transaction and not inserted yet (create)

    @classmethod
    def load(cls, instance: WorkflowInstance, *, projector: Projector | None = None) -> InstanceRuntime:
        require_locked(instance)
        return cls(instance, _take_warm(instance) or load_for_read(instance), projector=projector)

    @classmethod
    def load_or_incident(cls, instance: WorkflowInstance, *, projector: Projector | None = None) -> InstanceRuntime | None:
        """`load` for steps nobody is waiting on (timers, results, messages): a state this code
        cannot read opens an incident and stops the instance's timer, so one unreadable case does
        not stop the sweep for the others. None: the incident was opened (the caller skips)."""
        try:
            return cls.load(instance, projector=projector)
        except UnsupportedStateVersion as exc:
            logger.error("instance %s: unreadable state %s", instance.pk, exc)
            open_incident(
                instance, kind="state_unreadable",
                message=_("Lo stato della pratica è stato salvato in un formato che questa versione non sa leggere."),
                details=str(exc),
            )
            WorkflowInstance.objects.filter(pk=instance.pk).update(next_timer_at=None)
            return None

    @classmethod
    def create(
        cls,
        *,
        tenant: Tenant,
        version: ProcessVersion,
        data: dict[str, Any],
        case_id: int | None,
        case_number: str,
        business_key: str,
        projector: Projector | None,
        instance_id: int | None = None,
    ) -> InstanceRuntime:
        """A new instance row (inserted, so ours alone) with its workflow at the start event.

        `instance_id`: a key the caller reserved from the table's sequence (PostgreSQL), so that
        the row's INSERT can travel with the projection's statement like an update would."""
        spec, subprocess_specs = parsed_specs(version)
        workflow = BpmnWorkflow(spec, subprocess_specs, script_engine=script_engine_for(tenant.work_calendar))
        now = clock.now()
        start_task = workflow.get_next_task(state=TaskState.READY)
        injected = {
            "case_id": case_id,
            "case_number": case_number,
            # the day the request reached the office (checked by cases.services.case_start), else today
            "received_on": str(data.get("received_on") or clock.today().isoformat()),
            "tenant_istat": tenant.istat_code,
            "tenant_name": tenant.name,
        }
        initial = {**data, **injected}
        if start_task is not None:
            start_task.data.update(initial)
        else:  # pragma: no cover - a parsed process always has a root task
            workflow.data.update(initial)
        instance = WorkflowInstance(
            pk=instance_id,
            tenant=tenant,
            process_version=version,
            state="{}",
            serializer_version=SERIALIZER_VERSION,
            business_key=business_key or case_number,
            case_id=case_id,
            case_number=case_number,
            created_at=now,
            updated_at=now,
        )
        # Not inserted yet: the first save inserts it with its state (one statement, not an
        # INSERT and an UPDATE), unless an incident or an outbox row needs its row before.
        runtime = cls(mark_locked(instance), workflow, projector=projector)
        runtime._unsaved = True
        return runtime

    # ------------------------------------------------------------------ reading

    def find_task(self, task_id: str):
        return find_task(self.workflow, task_id)

    def ready_user_task_ids(self) -> frozenset[str]:
        return ready_user_task_ids(self.workflow)

    def ready_task(self, task, meta: UserTaskMeta | None) -> ReadyTask:
        return ready_task(self.instance, self.workflow, task, meta)

    def user_task_meta(self, bpmn_id: str) -> UserTaskMeta | None:
        return version_user_tasks(version_by_id(self.instance.process_version_id)).get(bpmn_id)

    # ------------------------------------------------------------------ writing

    def insert_row(self) -> None:
        """Insert a row created in this transaction now, when something needs its key."""
        if self._unsaved:
            self.instance.save(force_insert=True)
            self._unsaved = False

    def save(self, **fields: Any) -> None:
        """Write the state and `fields` if nobody wrote the row since we read it."""
        pending = self._prepare_save(fields)
        if pending is not None:
            self._send(pending)

    def _prepare_save(self, fields: dict[str, Any]) -> PendingSave | None:
        """The UPDATE of the state and `fields` under the revision check, not sent; None when the
        row was created in this transaction (then it is inserted here, with its state)."""
        instance = self.instance
        fields = {"state": dump_workflow(self.workflow), "updated_at": clock.now(), **fields}
        if self._unsaved:  # created in this transaction (InstanceRuntime.create)
            for name, value in fields.items():
                setattr(instance, name, value)
            instance.revision += 1
            self._unsaved = False
            if instance.pk is None:
                instance.save(force_insert=True)
                return None
            # Its key reserved: an INSERT that the projector may send with its own statements.
            values = [f.get_db_prep_save(f.pre_save(instance, True), connection) for f in _INSTANCE_FIELDS.values()]
            instance._state.adding = False
            instance._state.db = connection.alias
            return PendingSave(sql=_instance_insert_sql(), params=tuple(values))
        values = {"revision": instance.revision + 1, **fields}
        conn = connections[DEFAULT_DB_ALIAS]  # the wrapper itself, not the proxy each field would ask
        params = [_INSTANCE_FIELDS[name].get_db_prep_save(value, conn) for name, value in values.items()]
        sql = _instance_update_sql(tuple(values))
        params += [instance.pk, instance.revision]
        # The projector reads the new status; a refused save rolls the whole transaction back.
        instance.revision += 1
        for name, value in fields.items():
            setattr(instance, name, value)
        return PendingSave(sql=sql, params=tuple(params))

    @staticmethod
    def _send(pending: PendingSave) -> None:
        with connection.cursor() as cursor:
            cursor.execute(pending.sql, pending.params)
            pending.confirm(cursor.rowcount)

    def project(self, result: StepResult) -> StepResult:
        self.projector(result)
        return result

    def advance(
        self,
        *,
        event: str,
        actor_username: str | None = None,
        completed_task: ReadyTask | None = None,
        completed_data: dict[str, Any] | None = None,
        detail: dict[str, Any] | None = None,
        previous_ready_ids: frozenset[str] | None = None,
    ) -> StepResult:
        """Run the engine steps, save, project; the caller has already applied its change."""
        instance, workflow = self.instance, self.workflow
        new_incidents = []
        try:
            workflow.do_engine_steps()
        except Exception as exc:
            self.insert_row()
            failed = workflow.get_tasks(state=TaskState.ERROR)
            task = failed[0] if failed else None
            step = (task.task_spec.bpmn_name or task.task_spec.bpmn_id) if task is not None else "?"
            logger.warning("instance %s: step %s failed: %s", instance.pk, step, exc)
            incident = open_incident(
                instance,
                kind="script_error",
                message=_("Il passo «%(step)s» non è riuscito: %(error)s") % {"step": step, "error": exc},
                details="".join(traceback.format_exception(exc)),
                task=task,
                # A script or expression that fails on the case's data (a missing or wrong value):
                # correcting the data upstream is a way out, as retrying is.
                data_error=task is not None,
            )
            if incident:
                new_incidents.append(incident)
        # One walk of the task tree for everything below (each get_tasks walks all of it).
        all_tasks = list(workflow.get_tasks(state=TaskState.DEFINITE_MASK | TaskState.FINISHED_MASK))
        ready = [t for t in all_tasks if t.state == TaskState.READY]
        service_tasks = _service_tasks_to_enqueue(ready)
        if service_tasks:
            self.insert_row()
        new_outbox = _enqueue_service_tasks(instance, service_tasks)

        now = clock.now()
        fields: dict[str, Any] = {
            "serializer_version": SERIALIZER_VERSION,
            "next_timer_at": _next_timer(workflow),
            "completed_at": instance.completed_at,
        }
        if workflow.is_completed():
            fields.update(status=InstanceStatus.COMPLETED, completed_at=now, next_timer_at=None)
        elif any(t.state == TaskState.ERROR for t in all_tasks):
            fields["status"] = InstanceStatus.ERROR
        else:
            fields["status"] = InstanceStatus.RUNNING
        pending = self._prepare_save(fields)

        result = StepResult(
            instance=instance,
            event=event,
            ready_tasks=ready_tasks(instance, workflow, ready=ready),
            data=snapshot_data(workflow, all_tasks=all_tasks),
            actor_username=actor_username,
            completed_task=completed_task,
            completed_data=completed_data,
            new_outbox=new_outbox,
            new_incidents=new_incidents,
            detail=detail or {},
            previous_ready_ids=previous_ready_ids,
            pending_save=pending,
        )
        self.project(result)
        if pending is not None and not pending.done:  # the projector did not send it
            self._send(pending)
        # Nothing changes the workflow after its state was dumped above: once committed, the object is
        # that text, for the next write of this instance in this process (_take_warm).
        kept = (instance.pk, instance.state, instance.process_version_id, workflow)
        transaction.on_commit(lambda: _keep_warm(*kept))
        if new_outbox:
            ids = [m.pk for m in new_outbox]
            transaction.on_commit(lambda: dispatch_outbox(ids))
        return result

    def cancel(self, *, actor_username: str, reason: str) -> StepResult:
        now = clock.now()
        self.workflow.cancel()
        self.save(status=InstanceStatus.CANCELLED, next_timer_at=None, completed_at=now)
        OutboxMessage.objects.filter(instance=self.instance, status=OutboxStatus.PENDING).update(
            status=OutboxStatus.CANCELLED, updated_at=now
        )
        return self.project(
            StepResult(
                instance=self.instance,
                event="cancelled",
                ready_tasks=[],
                data=snapshot_data(self.workflow),
                actor_username=actor_username,
                detail={"reason": reason},
            )
        )


def project_incident(instance: WorkflowInstance, incident: Incident, *, projector: Projector | None = None) -> None:
    """Tell the projector about an incident opened without an engine step (a service gave up)."""
    resolve_projector(projector)(
        StepResult(instance=instance, event="incident", ready_tasks=[], data={}, new_incidents=[incident],
                   project_tasks=False)
    )
