"""Read-only queries of the engine: no lock, nothing saved."""

from __future__ import annotations

import functools
import hashlib
from collections import OrderedDict
from typing import Any

from django.db.models import Q, QuerySet
from SpiffWorkflow.util.task import TaskState

from common.errors import NotFound

from .models import Incident, IncidentStatus, ProcessVersion, WorkflowInstance
from .runtime import load_for_read, ready_tasks, snapshot_data
from .types import ReadyTask


def process_versions_visible(*, tenant=None) -> QuerySet[ProcessVersion]:
    """Versions a tenant may see: the shipped ones and its own variants (never another tenant's).
    Without a tenant: the shipped ones only."""
    qs = ProcessVersion.objects.select_related("definition")
    if tenant is None:
        return qs.filter(tenant__isnull=True)
    return qs.filter(Q(tenant__isnull=True) | Q(tenant=tenant))


def process_latest_version_id(*, process_id: str, tenant=None) -> int | None:
    """The version new cases of `tenant` start on: its newest own variant of the procedure if it
    published one, else the newest shipped version. Without a tenant: the newest shipped version.

    Every case start asks, so the statement is written once (`_latest_version_sql`), not built by the
    ORM per call; it is read fresh each time (a publish in another process changes the answer). The
    ORM twin: ``ProcessVersion.objects.filter(definition__process_id=..., Q(tenant=tenant) |
    Q(tenant__isnull=True)).order_by(F("tenant_id").asc(nulls_last=True), "-version")``."""
    from django.db import connection

    tenant_id = getattr(tenant, "pk", tenant)
    with connection.cursor() as cursor:
        cursor.execute(_latest_version_sql(tenant_id is not None), [process_id, tenant_id] if tenant_id is not None
                       else [process_id])
        row = cursor.fetchone()
    return row[0] if row is not None else None


@functools.cache
def _latest_version_sql(with_tenant: bool) -> str:
    from django.db import connection

    from .models import ProcessDefinition

    q = connection.ops.quote_name
    # The tenant's own versions sort before the shipped ones (NULL last on both databases).
    owner = (f"(v.{q('tenant_id')} = %s OR v.{q('tenant_id')} IS NULL)" if with_tenant
             else f"v.{q('tenant_id')} IS NULL")
    return (
        f"SELECT v.{q('id')} FROM {q(ProcessVersion._meta.db_table)} v "
        f"INNER JOIN {q(ProcessDefinition._meta.db_table)} d ON d.{q('id')} = v.{q('definition_id')} "
        f"WHERE d.{q('process_id')} = %s AND {owner} "
        f"ORDER BY v.{q('tenant_id')} IS NULL, v.{q('version')} DESC LIMIT 1"
    )


def process_latest_version(*, process_id: str, tenant=None) -> ProcessVersion:
    """process_latest_version_id's version (see there), with its definition."""
    version_id = process_latest_version_id(process_id=process_id, tenant=tenant)
    if version_id is None:
        raise NotFound(f"unknown process {process_id!r}", code="unknown_process")
    return ProcessVersion.objects.select_related("definition").get(pk=version_id)


def latest_versions() -> list[ProcessVersion]:
    """The newest version of every process, by process id (immutable versions, from the cache)."""
    from .bundles import version_by_id

    latest: dict[str, int] = {}
    for process_id, pk in (ProcessVersion.objects.order_by("definition__process_id", "-version")
                           .values_list("definition__process_id", "pk")):
        latest.setdefault(process_id, pk)
    return [version_by_id(pk) for pk in latest.values()]


def incident_list(*, tenant, open_only: bool = True) -> QuerySet[Incident]:
    qs = Incident.objects.for_tenant(tenant).select_related("instance").order_by("-created_at")
    if open_only:
        qs = qs.filter(status=IncidentStatus.OPEN)
    return qs


def instance_ready_tasks(*, instance: WorkflowInstance) -> list[ReadyTask]:
    """Every READY user task of the instance."""
    return ready_tasks(instance, load_for_read(instance))


def instance_data(*, instance: WorkflowInstance) -> dict[str, Any]:
    return snapshot_data(load_for_read(instance))


# What the pages read of an instance's state (progress, messages waited for), by (instance id, version id,
# md5 of the state text): a pure function of the state, so an entry is never stale (any change of the state
# changes the key) and never crosses instances. Per process, bounded; what it saves is loading and
# deserialising the workflow on every view of a case page.
_SUMMARY: OrderedDict[tuple[int, int, str], dict[str, Any]] = OrderedDict()
_SUMMARY_MAX = 4096


def _instance_summary(instance_id: int, tenant) -> dict[str, Any]:
    from django.db.models import Func, TextField

    qs = WorkflowInstance.objects.filter(pk=instance_id)
    if tenant is not None:
        qs = qs.filter(tenant=tenant)
    row = (qs.annotate(fingerprint=Func("state", function="md5", output_field=TextField()))
           .values_list("process_version_id", "fingerprint").first())
    if row is None:
        return {"done": [], "current": [], "waiting_messages": frozenset()}
    key = (instance_id, row[0], row[1])
    cached = _SUMMARY.get(key)
    if cached is not None:
        _SUMMARY.move_to_end(key)
        return cached
    instance = qs.select_related("tenant").first()
    if instance is None:
        return {"done": [], "current": [], "waiting_messages": frozenset()}
    workflow = load_for_read(instance)
    summary = {**_progress(workflow), "waiting_messages": frozenset(_waiting_messages(workflow))}
    if (instance.process_version_id, hashlib.md5(instance.state.encode()).hexdigest()) == row:  # noqa: S324
        _SUMMARY[key] = summary
        while len(_SUMMARY) > _SUMMARY_MAX:
            _SUMMARY.popitem(last=False)
    return summary


def forget_cached_summaries() -> None:
    _SUMMARY.clear()


def instance_progress_by_id(*, instance_id: int, tenant=None) -> dict[str, list[str]]:
    """`instance_progress` of the instance `instance_id` (of `tenant` when given), without loading the
    workflow when its state has not changed since it was last read in this process."""
    summary = _instance_summary(instance_id, tenant)
    return {"done": list(summary["done"]), "current": list(summary["current"])}


def instance_waiting_messages_by_id(*, instance_id: int, tenant=None) -> set[str]:
    """`instance_waiting_messages` of the instance `instance_id`, cached as `instance_progress_by_id`."""
    return set(_instance_summary(instance_id, tenant)["waiting_messages"])


def instance_progress(*, instance: WorkflowInstance) -> dict[str, list[str]]:
    """BPMN element ids the case went through ("done") and where it stands now ("current": tasks
    ready or waiting on a timer, message or service call). Plain ids, for the case page diagram."""
    return _progress(load_for_read(instance))


def _progress(workflow) -> dict[str, list[str]]:
    done: dict[str, None] = {}
    current: dict[str, None] = {}
    for task in workflow.get_tasks():
        bpmn_id = getattr(task.task_spec, "bpmn_id", None)
        if not bpmn_id or bpmn_id.startswith("Root"):
            continue
        if task.state == TaskState.COMPLETED:
            done[bpmn_id] = None
        elif task.state in (TaskState.READY, TaskState.WAITING, TaskState.STARTED):
            current[bpmn_id] = None
    return {"done": [i for i in done if i not in current], "current": list(current)}


def instance_reached(*, instance: WorkflowInstance) -> list[tuple[str, bool]]:
    """(BPMN element id, current?) of every element the case reached, in the order it reached them
    (each element's first time), for the milestones a citizen sees.

    A catch event that is only one of the alternatives an event-based gateway waits for (e.g. the
    other municipality's confirmation, offered during every publication) is not reached until it
    happens: waiting for it is not a step of the case. The time is SpiffWorkflow's own timestamp of
    the task's last state change (wall time), which for a completed task is when it completed.
    """
    from SpiffWorkflow.bpmn.specs.mixins.events.intermediate_event import EventBasedGateway

    workflow = load_for_read(instance)
    first: dict[str, float] = {}
    current: set[str] = set()
    for task in workflow.get_tasks():
        bpmn_id = getattr(task.task_spec, "bpmn_id", None)
        if not bpmn_id or bpmn_id.startswith("Root"):
            continue
        if task.state in (TaskState.READY, TaskState.WAITING, TaskState.STARTED):
            parent = task.parent
            if task.state == TaskState.WAITING and parent is not None \
                    and isinstance(parent.task_spec, EventBasedGateway):
                continue
            current.add(bpmn_id)
        elif task.state != TaskState.COMPLETED:
            continue
        when = float(task.last_state_change or 0)
        if bpmn_id not in first or when < first[bpmn_id]:
            first[bpmn_id] = when
    ordered = sorted(first, key=lambda i: first[i])
    return [(i, i in current) for i in ordered]


def instance_waiting_messages(*, instance: WorkflowInstance) -> set[str]:
    """Names of the BPMN messages the instance is waiting for now (its WAITING catch events), so a
    page offers a person only the answers the case can take (e.g. the 10-bis observations)."""
    return _waiting_messages(load_for_read(instance))


def _waiting_messages(workflow) -> set[str]:
    from SpiffWorkflow.bpmn.specs.event_definitions.message import MessageEventDefinition

    from .runtime import event_definitions

    names: set[str] = set()
    for task in workflow.get_tasks(state=TaskState.WAITING):
        for definition in event_definitions(task):
            if isinstance(definition, MessageEventDefinition):
                names.add(definition.name)
    return names


def incident_send_back_targets(*, incident: Incident) -> list[tuple[str, str]]:
    """(BPMN id, name) of the user tasks an open data incident may send its case back to: those whose
    data the failed step used, when no service call completed after them (it would be made twice)."""
    from .runtime import find_task
    from .spiff import completed_service_tasks, send_back_dropped, upstream_user_tasks

    if incident.status != IncidentStatus.OPEN or not incident.data_error:
        return []
    workflow = load_for_read(incident.instance)
    task = find_task(workflow, incident.task_id) if incident.task_id else None
    if task is None or task.state not in (TaskState.READY, TaskState.ERROR):
        return []
    targets: dict[str, str] = {}
    for candidate, join in upstream_user_tasks(task):
        bpmn_id = candidate.task_spec.bpmn_id
        if bpmn_id in targets:
            continue  # an earlier run of the same task: the nearest one counts
        targets[bpmn_id] = "" if completed_service_tasks(send_back_dropped(candidate, join)) else \
            (candidate.task_spec.bpmn_name or bpmn_id)
    return [(bpmn_id, name) for bpmn_id, name in targets.items() if name]
