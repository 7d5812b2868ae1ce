"""Migration of running cases from one version of their process to another (issue 15).

The ideas come from Camunda 7 (a plan, validated, run as a batch), Flowable (the plan is a JSON
document; a dry run first) and SpiffWorkflow's diff utilities (match by element id; refuse when a
changed task already ran). The pieces:

- a **plan** (`MigrationPlan`, JSON document, immutable, audited): source and target version of one
  process (the target may be the tenant's own variant), automatic mapping by element id, explicit
  overrides ``{old_id: new_id}`` for renamed or split tasks, variables to set, timers to reschedule,
  changes to already-run tasks the admin accepts;
- a **verdict** per case (`case_verdict`): ok, or refused with a stable English code and an Italian
  reason; computed by actually moving the state in memory and reloading it on the target version,
  so a dry run refuses exactly what the execution would;
- a **batch** (`MigrationBatch`, Celery task on the engine queue, `manage.py migrate_cases`): a dry
  run records verdicts; an execution migrates case by case, each in its own transaction through
  the lock order of `engine.locks` (instance row first, audit last), re-projects work items and
  deadlines, keeps or reschedules timers, audits with the hashes of both versions; a case that
  fails is recorded and the batch goes on;
- a **revert** (`migration_revert`) puts a migrated case back exactly as it was (the state saved
  with its result) when nothing has happened since: the instance's revision is still the one the
  migration left. The stored state is the inverse of the plan's mapping without its losses (a
  timer restarted, a variable set, an active task re-predicted are all undone).

SpiffWorkflow itself is touched only through engine.spiff.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.db.models import F
from django.utils.translation import gettext as _

from audit.services import audit_record
from common import clock
from common.errors import Conflict, NotFound, ValidationFailed

from .bundles import parsed_specs, version_by_id, version_files
from .locks import lock_instance, run_in_transaction
from .models import (
    BatchMode,
    BatchStatus,
    CaseOutcome,
    InstanceStatus,
    MigrationBatch,
    MigrationCaseResult,
    MigrationPlan,
    OutboxMessage,
    OutboxStatus,
    ProcessVersion,
    WorkflowInstance,
)
from .runtime import (
    InstanceRuntime,
    find_task,
    load_for_read,
    ready_tasks,
    ready_user_task_ids,
    snapshot_data,
)
from .spiff import (
    SERIALIZER_VERSION,
    SpecMapping,
    TaskPosition,
    dump_workflow,
    load_workflow,
    map_specs,
    migrate_workflow_specs,
    process_elements,
    script_engine_for,
    timer_due,
    workflow_positions,
)
from .state_migrations import UnsupportedStateVersion
from .types import Projector, StepResult

logger = logging.getLogger(__name__)

DOCUMENT_FORMAT = 1
MAX_DOCUMENT_BYTES = 64 * 1024
MAX_VARIABLE_BYTES = 16 * 1024
MAX_DEPTH = 20  # nesting of the plan document (a deeper one is refused before anything walks it)
IDENTIFIER = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,99}$")
# Set by the engine at the start of every case: a plan may not overwrite them.
RESERVED_VARIABLES = frozenset({"case_id", "case_number", "received_on", "tenant_istat", "tenant_name"})
SELECTABLE_STATUSES = (InstanceStatus.RUNNING, InstanceStatus.ERROR)
TIMER_RULES = ("keep", "restart")

# Changes to an already completed task that do not make its past data wrong: who would do it,
# by when, with which help text (the work is done); and labels and wiring (never compared).
_HARMLESS_AFTER_RUN = frozenset({
    "lane", "manual", "extensions.properties.dueDate", "extensions.properties.priority",
    "extensions.properties.notSameUserAs", "extensions.properties.formUiSchemaFilename",
    "extensions.instructionsForEndUser", "task_spec",
})
# Kinds whose past does not depend on their definition (routing and events already happened).
_INERT_KINDS = frozenset({"gateway", "event", "control"})


# --------------------------------------------------------------------------- the plan document


@dataclass(frozen=True)
class PlanDocument:
    """The plan as the admin writes it (JSON); `as_json` is what is stored and audited."""

    overrides: dict[str, str] = field(default_factory=dict)
    variables: dict[str, Any] = field(default_factory=dict)
    timers: dict[str, str] = field(default_factory=dict)  # target timer id -> keep | restart | ISO datetime
    accept_changed: tuple[str, ...] = ()

    def as_json(self, *, source: ProcessVersion, target: ProcessVersion) -> dict[str, Any]:
        return {
            "format": DOCUMENT_FORMAT,
            "process": source.definition.process_id,
            "source": {"version": source.version, "hash": source.content_hash},
            "target": {"version": target.version, "hash": target.content_hash},
            "overrides": dict(sorted(self.overrides.items())),
            "variables": self.variables,
            "timers": dict(sorted(self.timers.items())),
            "accept_changed": sorted(self.accept_changed),
        }

    @classmethod
    def from_json(cls, data: Any) -> PlanDocument:
        """Shape checks only (types); plan_problems checks the content against the versions."""
        if _too_deep(data):
            raise ValidationFailed(_("Il piano ha troppi livelli annidati."), code="plan_too_deep",
                                   details={"document": [_("Il piano ha troppi livelli annidati.")]})
        if not isinstance(data, dict):
            raise ValidationFailed(_("Il piano deve essere un oggetto JSON."), code="plan_not_object",
                                   details={"document": [_("Il piano deve essere un oggetto JSON.")]})
        errors: dict[str, list[str]] = {}

        def mapping(key: str, value_type: type) -> dict:
            value = data.get(key) or {}
            if not isinstance(value, dict) or not all(
                isinstance(k, str) and isinstance(v, value_type) for k, v in value.items()
            ):
                errors.setdefault(key, []).append(_("«%(k)s» deve essere un oggetto di testi.") % {"k": key})
                return {}
            return value

        overrides = mapping("overrides", str)
        timers = mapping("timers", str)
        variables = data.get("variables") or {}
        if not isinstance(variables, dict):
            errors.setdefault("variables", []).append(_("«variables» deve essere un oggetto."))
            variables = {}
        accept = data.get("accept_changed") or []
        if not isinstance(accept, list) or not all(isinstance(a, str) for a in accept):
            errors.setdefault("accept_changed", []).append(_("«accept_changed» deve essere un elenco di testi."))
            accept = []
        if errors:
            raise ValidationFailed(_("Il piano non è scritto correttamente."), code="plan_malformed", details=errors)
        return cls(overrides=overrides, variables=variables, timers=timers, accept_changed=tuple(accept))


def _too_deep(data: Any) -> bool:
    """Deeper than MAX_DEPTH, measured without recursion (a hostile document cannot blow the stack)."""
    stack = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > MAX_DEPTH:
            return True
        if isinstance(value, dict):
            stack.extend((v, depth + 1) for v in value.values())
        elif isinstance(value, list):
            stack.extend((v, depth + 1) for v in value)
    return False


def parse_document_text(text: str) -> Any:
    """JSON text of a plan or of its variables; ValueError for anything that is not sane JSON
    (a nesting deep enough to exhaust the parser's stack included)."""
    try:
        return json.loads(text)
    except RecursionError as exc:
        raise ValueError("too deep") from exc


def _timer_rule(value: str) -> str | dt.datetime | None:
    """"keep", "restart" or an aware datetime; None: not a valid rule."""
    if value in TIMER_RULES:
        return value
    try:
        when = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=clock.now().tzinfo or dt.UTC)


def _elements(version: ProcessVersion) -> dict[str, tuple[str, str]]:
    """element id -> (label, kind) over every process of the version (ids are unique per file set)."""
    merged: dict[str, tuple[str, str]] = {}
    for elements in process_elements(parsed_specs(version)).values():
        merged.update(elements)
    return merged


def _timer_ids(version: ProcessVersion) -> set[str]:
    spec, subs = parsed_specs(version)
    ids = set()
    for process in (spec, *subs.values()):
        for name, task_spec in process.task_specs.items():
            definition = getattr(task_spec, "event_definition", None)
            if definition is not None and "Timer" in type(definition).__name__:
                ids.add(name)
    return ids


def version_tenant_id(version: ProcessVersion) -> int | None:
    """The tenant a version belongs to (a tenant's own variant), None for a shipped version.
    Read with getattr: tenant variants are added by the studio (issue 15) alongside this module."""
    return getattr(version, "tenant_id", None)


def plan_problems(document: PlanDocument, *, tenant, source: ProcessVersion, target: ProcessVersion) -> dict[str, list[str]]:
    """Everything wrong with a plan, by field (Italian); empty: the plan can be stored."""
    problems: dict[str, list[str]] = {}

    def add(key: str, message: str) -> None:
        problems.setdefault(key, []).append(message)

    if source.definition_id != target.definition_id:
        add("target", _("Le due versioni devono essere dello stesso procedimento."))
        return problems
    if source.pk == target.pk:
        add("target", _("La versione di arrivo deve essere diversa da quella di partenza."))
    for key, version in (("source", source), ("target", target)):
        owner = version_tenant_id(version)
        if owner is not None and owner != tenant.pk:
            add(key, _("La versione %(v)s è la variante di un altro ente.") % {"v": version.version})
    if problems:
        return problems
    old, new = _elements(source), _elements(target)
    for old_id, new_id in document.overrides.items():
        if old_id not in old:
            add("overrides", _("L'elemento «%(id)s» non esiste nella versione di partenza.") % {"id": old_id})
        elif new_id not in new:
            add("overrides", _("L'elemento «%(id)s» non esiste nella versione di arrivo.") % {"id": new_id})
        elif old[old_id][1] != new[new_id][1]:
            add("overrides", _("«%(a)s» e «%(b)s» sono elementi di tipo diverso: non si possono far corrispondere.")
                % {"a": old_id, "b": new_id})
    timer_ids = _timer_ids(target)
    for timer_id, rule in document.timers.items():
        if timer_id not in timer_ids:
            add("timers", _("«%(id)s» non è un timer della versione di arrivo.") % {"id": timer_id})
        elif _timer_rule(rule) is None:
            add("timers", _("Per il timer «%(id)s» indica keep, restart o una data e ora ISO 8601.") % {"id": timer_id})
    for name in document.variables:
        if not isinstance(name, str) or not IDENTIFIER.match(name):
            add("variables", _("«%(n)s» non è un nome di variabile valido (lettere, cifre, _).") % {"n": name})
        elif name in RESERVED_VARIABLES:
            add("variables", _("La variabile «%(n)s» è gestita dal sistema e non si può impostare.") % {"n": name})
    if len(json.dumps(document.variables, default=str)) > MAX_VARIABLE_BYTES:
        add("variables", _("Le variabili superano %(n)s kB.") % {"n": MAX_VARIABLE_BYTES // 1024})
    for old_id in document.accept_changed:
        if old_id not in old:
            add("accept_changed", _("L'elemento «%(id)s» non esiste nella versione di partenza.") % {"id": old_id})
    return problems


def plan_create(
    *, tenant, user, source_version_id: int, target_version_id: int, document: Any,
    title: str = "", ip: str | None = None,
) -> MigrationPlan:
    """Validate and store a plan (ValidationFailed with per-field Italian messages), audited."""
    versions = {v.pk: v for v in ProcessVersion.objects.select_related("definition")
                .filter(pk__in=[source_version_id, target_version_id])}
    source, target = versions.get(source_version_id), versions.get(target_version_id)
    if source is None or target is None:
        raise ValidationFailed(_("Scegli due versioni esistenti del procedimento."), code="version_not_found",
                               details={"source": [_("Versione non trovata.")]})
    if not isinstance(document, PlanDocument):  # JSON from a page, a file, the command line
        if not _too_deep(document) and len(json.dumps(document, default=str)) > MAX_DOCUMENT_BYTES:
            raise ValidationFailed(_("Il piano è troppo grande."), code="plan_too_large",
                                   details={"document": [_("Il piano supera %(n)s kB.") % {"n": MAX_DOCUMENT_BYTES // 1024}]})
        document = PlanDocument.from_json(document)
    problems = plan_problems(document, tenant=tenant, source=source, target=target)
    if problems:
        raise ValidationFailed(_("Il piano non è valido: correggi gli errori indicati."), code="plan_invalid",
                               details=problems)
    with transaction.atomic():
        plan = MigrationPlan.objects.create(
            tenant=tenant, definition=source.definition, source_version=source, target_version=target,
            title=title.strip()[:200], document=document.as_json(source=source, target=target),
            created_by=user if getattr(user, "is_authenticated", False) else None, created_at=clock.now(),
        )
        audit_record(
            tenant=tenant, actor=user, action="create", object_type="migration_plan", object_id=str(plan.pk),
            object_repr=plan.title or str(plan),
            summary=_("Piano di migrazione di «%(p)s» dalla versione %(a)s alla %(b)s") % {
                "p": source.definition.name, "a": source.version, "b": target.version},
            after=plan.document, ip=ip,
        )
    return plan


def plan_document(plan: MigrationPlan) -> PlanDocument:
    return PlanDocument.from_json(plan.document)


# --------------------------------------------------------------------------- the mapping of a plan


@dataclass
class PlanContext:
    """What a plan means for the two versions, computed once per batch (specs are cached)."""

    plan: MigrationPlan
    source: ProcessVersion
    target: ProcessVersion
    document: PlanDocument
    mappings: dict[str, SpecMapping | None]
    timers: dict[str, Any]
    form_changes: set[str]  # user-task ids of the source whose form file content differs in the target
    labels: dict[str, str]


def plan_context(plan: MigrationPlan) -> PlanContext:
    source, target = version_by_id(plan.source_version_id), version_by_id(plan.target_version_id)
    document = plan_document(plan)
    mappings = map_specs(parsed_specs(source), parsed_specs(target), document.overrides)
    timers = {k: rule for k, v in document.timers.items() if (rule := _timer_rule(v)) is not None}
    old_files, new_files = version_files(source), version_files(target)
    form_changes: set[str] = set()
    from .bundles import version_user_tasks

    old_metas, new_metas = version_user_tasks(source), version_user_tasks(target)
    main = mappings.get(parsed_specs(source)[0].name)
    for bpmn_id, meta in old_metas.items():
        new_id = (main.alignment.get(bpmn_id) if main else None) or bpmn_id
        new_meta = new_metas.get(new_id)
        if meta.form and new_meta and new_meta.form:
            if old_files.get(f"forms/{meta.form}") != new_files.get(f"forms/{new_meta.form}"):
                form_changes.add(bpmn_id)
    labels = {k: v[0] for k, v in _elements(source).items()}
    labels.update({k: v[0] for k, v in _elements(target).items() if k not in labels})
    return PlanContext(plan, source, target, document, mappings, timers, form_changes, labels)


def mapping_rows(plan: MigrationPlan) -> list[dict[str, Any]]:
    """The plan's mapping element by element (for the plan page): how each source element moves."""
    ctx = plan_context(plan)
    old_elements = process_elements(parsed_specs(ctx.source))
    new_elements = process_elements(parsed_specs(ctx.target))
    rows = []
    for process, elements in old_elements.items():
        mapping = ctx.mappings.get(process)
        for element_id, (label, kind) in elements.items():
            target = mapping.alignment.get(element_id) if mapping else None
            changed = list(mapping.changed.get(element_id, ())) if mapping else []
            if element_id in ctx.form_changes:
                changed.append("form_content")
            rows.append({
                "process": process, "id": element_id, "label": label, "kind": kind, "target": target,
                "target_label": new_elements.get(process, {}).get(target or "", (target or "",))[0],
                "how": mapping.how.get(element_id, "") if mapping else "", "changed": changed,
                "suggestion": mapping.suggestions.get(element_id, "") if mapping else "",
            })
    for process, elements in new_elements.items():
        mapping = ctx.mappings.get(process)
        used = set(mapping.alignment.values()) if mapping else set()
        for element_id, (label, kind) in elements.items():
            if element_id not in used:
                rows.append({"process": process, "id": "", "label": "", "kind": kind, "target": element_id,
                             "target_label": label, "how": "added", "changed": [], "suggestion": ""})
    return rows


# --------------------------------------------------------------------------- the verdict on one case


@dataclass
class Reason:
    code: str
    message: str
    element: str = ""

    def as_dict(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message, "element": self.element}


@dataclass
class Verdict:
    reasons: list[Reason] = field(default_factory=list)
    warnings: list[Reason] = field(default_factory=list)
    before: list[str] = field(default_factory=list)  # labels of the active tasks on the source
    after: list[str] = field(default_factory=list)  # labels of the READY user tasks on the target
    timers: list[dict[str, Any]] = field(default_factory=list)
    workflow: Any = None  # the migrated workflow, loaded on the target (ok verdicts)

    @property
    def ok(self) -> bool:
        return not self.reasons

    @property
    def code(self) -> str:
        return self.reasons[0].code if self.reasons else ""

    @property
    def message(self) -> str:
        return "; ".join(r.message for r in self.reasons)

    def details(self) -> dict[str, Any]:
        return {
            "reasons": [r.as_dict() for r in self.reasons], "warnings": [w.as_dict() for w in self.warnings],
            "before": self.before, "after": self.after, "timers": self.timers,
        }


def _element_of(spec_name: str) -> str:
    for suffix in (".BoundaryEventSplit", ".BoundaryEventJoin", " [child]"):
        if spec_name.endswith(suffix):
            return spec_name[: -len(suffix)]
    return spec_name


def _meaningful_changes(ctx: PlanContext, position: TaskPosition, mapping: SpecMapping) -> list[str]:
    changes = [c for c in mapping.changed.get(position.spec, ()) if c not in _HARMLESS_AFTER_RUN]
    if position.kind == "user" and _element_of(position.spec) in ctx.form_changes:
        changes.append("form_content")
    return changes


def _check_positions(ctx: PlanContext, positions: list[TaskPosition], running_subs: list[str]) -> Verdict:
    verdict = Verdict()
    seen: set[tuple[str, str]] = set()
    accepted = set(ctx.document.accept_changed)

    def refuse(code: str, message: str, element: str) -> None:
        if (code, element) not in seen:
            seen.add((code, element))
            verdict.reasons.append(Reason(code, message, element))

    for name in running_subs:
        if ctx.mappings.get(name) is None:
            refuse("subprocess_missing", _("il sottoprocesso «%(p)s» in corso non esiste nella nuova versione")
                   % {"p": name}, name)
    for position in positions:
        mapping = ctx.mappings.get(position.process)
        if mapping is None:
            continue  # reported above as a missing subprocess
        element = _element_of(position.spec)
        label = ctx.labels.get(element, element)
        args = {"label": label, "id": element}
        if position.state in ("active", "error") and position.kind not in ("control", "gateway", "multi"):
            verdict.before.append(label)
        if position.state == "error":
            refuse("task_in_error", _("il passo «%(label)s» (`%(id)s`) è in errore: risolvi prima l'incidente") % args,
                   element)
            continue
        if position.outbox_pending:
            refuse("service_call_pending",
                   _("è in corso una chiamata a un servizio esterno («%(label)s», `%(id)s`): riprova quando è conclusa")
                   % args, element)
            continue
        target = mapping.alignment.get(position.spec)
        if target is None:
            if position.state == "active":
                refuse("active_task_removed", _("attività attiva «%(label)s» (`%(id)s`) rimossa e non mappata") % args,
                       element)
            elif position.state == "finished" and position.kind not in ("control",):
                refuse("finished_task_removed",
                       _("l'attività già svolta «%(label)s» (`%(id)s`) non esiste nella nuova versione: indicane la "
                         "corrispondenza nel piano") % args, element)
            continue
        changes = _meaningful_changes(ctx, position, mapping)
        if not changes:
            continue
        if position.state == "finished" and position.kind not in _INERT_KINDS and element not in accepted:
            refuse("changed_task_already_ran",
                   _("l'attività «%(label)s» (`%(id)s`) è già stata svolta ed è cambiata nella nuova versione "
                     "(%(what)s): accetta la modifica nel piano per procedere") % {**args, "what": ", ".join(changes)},
                   element)
        elif position.state == "active" and position.kind == "multi":
            refuse("multi_instance_changed",
                   _("l'attività multi-istanza «%(label)s» (`%(id)s`) è in corso e cambia nella nuova versione: "
                     "le sue istanze non si possono spostare") % args, element)
        elif position.state == "active" and position.kind == "call":
            refuse("call_activity_changed",
                   _("il sottoprocesso «%(label)s» (`%(id)s`) è in corso e la sua chiamata cambia nella nuova versione")
                   % args, element)
        elif position.state == "active" and position.kind not in ("control",):
            verdict.warnings.append(Reason(
                "active_task_changed",
                _("l'attività in corso «%(label)s» (`%(id)s`) prosegue con la nuova definizione (%(what)s)")
                % {**args, "what": ", ".join(changes)}, element))
    verdict.before = list(dict.fromkeys(verdict.before))
    return verdict


def _timer_text(value: Any) -> str:
    when = timer_due(value)
    return when.isoformat() if when else ""


def case_verdict(ctx: PlanContext, workflow, *, tenant) -> Verdict:
    """Check a loaded workflow (on the source version) against the plan and, when nothing refuses
    it, move it in memory and reload it on the target: `verdict.workflow` is then the new state.
    The workflow passed in is changed: load a fresh one to use it again."""
    verdict = _check_positions(ctx, workflow_positions(workflow), [sp.spec.name for sp in workflow.subprocesses.values()])
    if not verdict.ok:
        return verdict
    target_specs = parsed_specs(ctx.target)
    moves = migrate_workflow_specs(workflow, ctx.mappings, target_specs, timers=ctx.timers,
                                   variables=ctx.document.variables)
    verdict.timers = [
        {"id": m.spec, "label": ctx.labels.get(m.spec, m.spec), "before": _timer_text(m.before),
         "after": _timer_text(m.after), "rule": m.rule}
        for m in moves
    ]
    stray = sorted({
        _element_of(p.spec) for p in workflow_positions(workflow)
        if p.spec not in _spec_names(target_specs, p.process)
    })
    for element in stray:
        verdict.reasons.append(Reason(
            "unmapped_task", _("l'elemento «%(label)s» (`%(id)s`) resta senza corrispondenza nella nuova versione")
            % {"label": ctx.labels.get(element, element), "id": element}, element))
    if not verdict.ok:
        return verdict
    try:
        state = dump_workflow(workflow)
        migrated = load_workflow(state, spec=target_specs[0], subprocess_specs=target_specs[1],
                                 script_engine=script_engine_for(tenant.work_calendar))
    except Exception as exc:  # the round trip is the proof that the target can run this state
        logger.warning("migration of a case on plan %s does not reload: %s", ctx.plan.pk, exc)
        verdict.reasons.append(Reason("state_not_loadable",
                                      _("lo stato spostato non si può caricare sulla nuova versione: %(e)s") % {"e": exc}))
        return verdict
    verdict.workflow = migrated
    return verdict


def _spec_names(target_specs: tuple, process: str) -> set[str]:
    spec, subs = target_specs
    chosen = spec if spec.name == process else subs.get(process)
    return set(chosen.task_specs) if chosen is not None else set()


def _after_labels(workflow, version: ProcessVersion) -> list[str]:
    """The READY user tasks once the engine has run what it would run on its own (in memory)."""
    from .bundles import version_user_tasks

    metas = version_user_tasks(version)
    try:
        workflow.do_engine_steps()
    except Exception:  # the real step opens an incident; the dry run just shows where it stops
        pass
    labels = []
    for task_id in ready_user_task_ids(workflow):
        task = find_task(workflow, task_id)
        meta = metas.get(task.task_spec.bpmn_id)
        labels.append((meta.name if meta else "") or task.task_spec.bpmn_id)
    return sorted(labels)


# --------------------------------------------------------------------------- batches


def _selection(plan: MigrationPlan, filters: dict[str, Any]) -> list[int]:
    statuses = [s for s in filters.get("statuses") or SELECTABLE_STATUSES if s in SELECTABLE_STATUSES]
    qs = WorkflowInstance.objects.filter(
        tenant_id=plan.tenant_id, process_version_id=plan.source_version_id, status__in=statuses or SELECTABLE_STATUSES,
    )
    ids = filters.get("instances")
    if ids:
        qs = qs.filter(pk__in=[int(i) for i in ids if str(i).isdigit()])
    return list(qs.order_by("pk").values_list("pk", flat=True))


def batch_create(*, plan: MigrationPlan, user, mode: str, filters: dict[str, Any] | None = None,
                 ip: str | None = None, queue: bool = True) -> MigrationBatch:
    """Fix the selection of cases and queue the batch (after commit) on the engine queue."""
    if mode not in BatchMode.values:
        raise ValidationFailed(_("Modalità sconosciuta."), code="bad_mode")
    filters = dict(filters or {})
    current = str(filters.get("current_task") or "")[:200]
    if current and current not in _elements(version_by_id(plan.source_version_id)):
        raise ValidationFailed(_("L'attività scelta non esiste nella versione di partenza."), code="bad_task",
                               details={"current_task": [_("Attività sconosciuta.")]})
    filters["current_task"] = current
    ids = _selection(plan, filters)
    batch = MigrationBatch.objects.create(
        tenant_id=plan.tenant_id, plan=plan, mode=mode, filters=filters, instance_ids=ids, total=len(ids),
        created_by=user if getattr(user, "is_authenticated", False) else None, created_at=clock.now(),
    )
    if mode == BatchMode.EXECUTE:
        audit_record(
            tenant=plan.tenant, actor=user, action="update", object_type="migration_plan", object_id=str(plan.pk),
            object_repr=plan.title or str(plan),
            summary=_("Avviata la migrazione di %(n)s pratiche con il piano %(p)s") % {"n": len(ids), "p": plan.pk},
            extra={"batch": batch.pk, "filters": filters}, ip=ip,
        )
    if queue:
        transaction.on_commit(lambda: _queue(batch.pk))
    return batch


def _queue(batch_id: int) -> None:
    from .tasks import migration_batch_task

    try:
        migration_batch_task.delay(batch_id)
    except Exception:  # broker down: the batch stays pending; the command or a new launch runs it
        logger.exception("could not queue migration batch %s", batch_id)


def batch_run(batch_id: int, *, projector: Projector | None = None,
              progress: Callable[[MigrationBatch, MigrationCaseResult], None] | None = None) -> MigrationBatch:
    """Run a batch to the end; safe to run twice (cases with a result in it are skipped)."""
    claimed = MigrationBatch.objects.filter(pk=batch_id, status__in=[BatchStatus.PENDING, BatchStatus.RUNNING]).update(
        status=BatchStatus.RUNNING, started_at=clock.now())
    batch = MigrationBatch.objects.select_related("plan", "plan__tenant", "created_by").get(pk=batch_id)
    if not claimed:
        return batch
    try:
        ctx = plan_context(batch.plan)
    except Exception as exc:
        logger.exception("migration batch %s: the plan cannot be prepared", batch_id)
        MigrationBatch.objects.filter(pk=batch_id).update(status=BatchStatus.FAILED, error=str(exc)[:2000],
                                                          finished_at=clock.now())
        batch.refresh_from_db()
        return batch
    done = set(batch.results.values_list("instance_id", flat=True))
    for instance_id in batch.instance_ids:
        if instance_id in done:
            continue
        result = _run_case(ctx, batch, instance_id, projector=projector)
        if progress is not None:
            batch.refresh_from_db()
            progress(batch, result)
    _recount(batch.pk)
    MigrationBatch.objects.filter(pk=batch_id).update(status=BatchStatus.DONE, finished_at=clock.now())
    batch.refresh_from_db()
    return batch


_COUNTERS = {
    CaseOutcome.OK: "ok", CaseOutcome.MIGRATED: "ok", CaseOutcome.REFUSED: "refused",
    CaseOutcome.FAILED: "failed", CaseOutcome.SKIPPED: "skipped",
}


def _recount(batch_id: int) -> None:
    from django.db.models import Count

    counts = {k: 0 for k in ("ok", "refused", "failed", "skipped")}
    for row in MigrationCaseResult.objects.filter(batch_id=batch_id).values("outcome").annotate(n=Count("pk")):
        key = _COUNTERS.get(row["outcome"], "ok")  # a reverted case was migrated by this batch
        counts[key] += row["n"]
    MigrationBatch.objects.filter(pk=batch_id).update(processed=sum(counts.values()), **counts)


def _record(batch: MigrationBatch, instance: WorkflowInstance | None, instance_id: int, outcome: str,
            verdict: Verdict | None = None, *, code: str = "", message: str = "", **extra: Any) -> MigrationCaseResult:
    result = MigrationCaseResult.objects.create(
        tenant_id=batch.tenant_id, batch=batch, instance_id=instance_id,
        case_id=instance.case_id if instance else None, case_number=instance.case_number if instance else "",
        outcome=outcome, code=code or (verdict.code if verdict else ""),
        message=message or (verdict.message if verdict else ""), details=verdict.details() if verdict else {},
        created_at=clock.now(), **extra,
    )
    MigrationBatch.objects.filter(pk=batch.pk).update(processed=F("processed") + 1,
                                                      **{_COUNTERS[outcome]: F(_COUNTERS[outcome]) + 1})
    return result


def _skip_reason(ctx: PlanContext, instance: WorkflowInstance | None) -> tuple[str, str] | None:
    if instance is None or instance.tenant_id != ctx.plan.tenant_id:
        return "not_found", _("la pratica non esiste più")
    if instance.process_version_id != ctx.source.pk:
        return "not_on_source", _("la pratica non è più sulla versione di partenza del piano")
    if instance.status not in SELECTABLE_STATUSES:
        return "not_running", _("la pratica non è in corso")
    return None


def _at_current_task(ctx: PlanContext, batch: MigrationBatch, workflow) -> bool:
    current = (batch.filters or {}).get("current_task")
    if not current:
        return True
    return any(p.state == "active" and _element_of(p.spec) == current for p in workflow_positions(workflow))


def _run_case(ctx: PlanContext, batch: MigrationBatch, instance_id: int, *, projector: Projector | None) -> MigrationCaseResult:
    try:
        if batch.mode == BatchMode.DRY_RUN:
            return run_in_transaction(lambda: _dry_run_case(ctx, batch, instance_id),
                                      what=f"migration dry run of instance {instance_id}")
        return run_in_transaction(lambda: _execute_case(ctx, batch, instance_id, projector=projector),
                                  what=f"migration of instance {instance_id}")
    except Exception as exc:  # this case failed; the batch goes on
        logger.exception("migration batch %s: instance %s failed", batch.pk, instance_id)
        instance = WorkflowInstance.objects.filter(pk=instance_id).defer("state").first()
        existing = MigrationCaseResult.objects.filter(batch=batch, instance_id=instance_id).first()
        if existing is not None:  # another delivery of the same batch recorded this case meanwhile
            return existing
        message = getattr(exc, "message", "") or str(exc)
        code = getattr(exc, "code", "") or "error"
        return run_in_transaction(
            lambda: _record(batch, instance, instance_id, CaseOutcome.FAILED, code=code,
                            message=_("la migrazione non è riuscita: %(e)s") % {"e": message[:500]}),
            what=f"migration failure of instance {instance_id}",
        )


def _dry_run_case(ctx: PlanContext, batch: MigrationBatch, instance_id: int) -> MigrationCaseResult:
    instance = WorkflowInstance.objects.select_related("tenant").filter(pk=instance_id).first()
    skip = _skip_reason(ctx, instance)
    if skip:
        return _record(batch, instance, instance_id, CaseOutcome.SKIPPED, code=skip[0], message=skip[1])
    assert instance is not None
    try:
        workflow = load_for_read(instance)
    except UnsupportedStateVersion as exc:
        return _record(batch, instance, instance_id, CaseOutcome.REFUSED, code="state_unreadable",
                       message=_("lo stato della pratica non si può leggere: %(e)s") % {"e": exc})
    if not _at_current_task(ctx, batch, workflow):
        return _record(batch, instance, instance_id, CaseOutcome.SKIPPED, code="not_at_task",
                       message=_("la pratica non è all'attività scelta"))
    verdict = case_verdict(ctx, workflow, tenant=instance.tenant)
    if not verdict.ok:
        return _record(batch, instance, instance_id, CaseOutcome.REFUSED, verdict)
    verdict.after = _after_labels(verdict.workflow, ctx.target)
    return _record(batch, instance, instance_id, CaseOutcome.OK, verdict)


def _version_ref(version: ProcessVersion) -> dict[str, Any]:
    return {"id": version.pk, "version": version.version, "hash": version.content_hash}


def _execute_case(ctx: PlanContext, batch: MigrationBatch, instance_id: int, *,
                  projector: Projector | None) -> MigrationCaseResult:
    instance = lock_instance(instance_id)  # level 1 of engine.locks, before any other row of the case
    skip = _skip_reason(ctx, instance)
    if skip:
        return _record(batch, instance, instance_id, CaseOutcome.SKIPPED, code=skip[0], message=skip[1])
    assert instance is not None
    runtime = InstanceRuntime.load(instance, projector=projector)
    if not _at_current_task(ctx, batch, runtime.workflow):
        return _record(batch, instance, instance_id, CaseOutcome.SKIPPED, code="not_at_task",
                       message=_("la pratica non è all'attività scelta"))
    before_ready = runtime.ready_user_task_ids()
    previous = {
        "previous_state": instance.state, "previous_serializer_version": instance.serializer_version,
        "previous_version_id": instance.process_version_id, "previous_next_timer_at": instance.next_timer_at,
    }
    verdict = case_verdict(ctx, runtime.workflow, tenant=instance.tenant)
    if not verdict.ok:
        return _record(batch, instance, instance_id, CaseOutcome.REFUSED, verdict)
    WorkflowInstance.objects.filter(pk=instance.pk).update(process_version_id=ctx.target.pk)
    instance.process_version_id = ctx.target.pk
    actor = batch.created_by
    migrated = InstanceRuntime(instance, verdict.workflow, projector=projector)
    step = migrated.advance(
        event="migrated", actor_username=actor.get_username() if actor else None, previous_ready_ids=before_ready,
        detail={"plan": ctx.plan.pk, "batch": batch.pk},
    )
    verdict.after = sorted(t.name for t in step.ready_tasks)
    result = _record(batch, instance, instance_id, CaseOutcome.MIGRATED, verdict,
                     migrated_revision=instance.revision, **previous)
    if step.new_outbox:
        result.details["outbox"] = [m.pk for m in step.new_outbox]
        MigrationCaseResult.objects.filter(pk=result.pk).update(details=result.details)
    _audit_case(instance, actor, summary=_("Pratica migrata dalla versione %(a)s alla versione %(b)s del procedimento")
                % {"a": ctx.source.version, "b": ctx.target.version},
                before=_version_ref(ctx.source), after=_version_ref(ctx.target),
                extra={"plan": ctx.plan.pk, "batch": batch.pk, "timers": verdict.timers,
                       "warnings": [w.code for w in verdict.warnings]})
    return result


def _audit_case(instance: WorkflowInstance, actor, *, summary: str, before: Any, after: Any, extra: Any,
                ip: str | None = None) -> None:
    """Last of the lock order (engine.locks level 3)."""
    audit_record(
        tenant=instance.tenant, actor=actor, action="update", object_type="case",
        object_id=str(instance.case_id or instance.pk), object_repr=instance.case_number, summary=summary,
        before=before, after=after, extra=extra, ip=ip, case_id=instance.case_id,
    )


# --------------------------------------------------------------------------- revert


def migration_revert(*, tenant, user, result_id: int, ip: str | None = None,
                     projector: Projector | None = None) -> MigrationCaseResult:
    """Put a migrated case back on its previous version, exactly as it was, if nothing happened
    since (Conflict with an Italian reason otherwise)."""
    found = MigrationCaseResult.objects.filter(tenant=tenant, pk=result_id).values_list("instance_id", flat=True).first()
    if found is None:
        raise NotFound(_("Risultato di migrazione non trovato."))

    def revert() -> MigrationCaseResult:
        instance = lock_instance(found)  # level 1 first, then the rows of the case
        result = MigrationCaseResult.objects.select_for_update().select_related("batch__plan").get(pk=result_id)
        if result.outcome == CaseOutcome.REVERTED:
            raise Conflict(_("La pratica è già stata riportata alla versione precedente."), code="already_reverted")
        if result.outcome != CaseOutcome.MIGRATED or not result.previous_state or result.previous_version_id is None:
            raise Conflict(_("Questa pratica non è stata migrata da questo lotto."), code="not_migrated")
        if (instance is None or instance.revision != result.migrated_revision
                or instance.process_version_id != result.batch.plan.target_version_id):
            raise Conflict(_("La pratica è andata avanti dopo la migrazione: non si può riportare alla versione "
                             "precedente."), code="changed_since")
        if instance.status != InstanceStatus.RUNNING:
            raise Conflict(_("La pratica non è più in corso: non si può riportare alla versione precedente."),
                           code="not_running")
        outbox_ids = result.details.get("outbox") or []
        if OutboxMessage.objects.filter(pk__in=outbox_ids).exclude(status=OutboxStatus.PENDING).exists():
            raise Conflict(_("Dopo la migrazione è già partita una chiamata a un servizio esterno: non si può "
                             "riportare la pratica alla versione precedente."), code="service_called")
        OutboxMessage.objects.filter(pk__in=outbox_ids).update(status=OutboxStatus.CANCELLED, updated_at=clock.now())
        current_ready = ready_user_task_ids(load_for_read(instance))
        previous = version_by_id(result.previous_version_id)
        spec, subs = parsed_specs(previous)
        workflow = load_workflow(result.previous_state, spec=spec, subprocess_specs=subs,
                                 script_engine=script_engine_for(instance.tenant.work_calendar),
                                 stored_version=result.previous_serializer_version)
        WorkflowInstance.objects.filter(pk=instance.pk).update(process_version_id=previous.pk)
        instance.process_version_id = previous.pk
        runtime = InstanceRuntime(instance, workflow, projector=projector)
        runtime.save(serializer_version=SERIALIZER_VERSION, next_timer_at=result.previous_next_timer_at,
                     status=InstanceStatus.RUNNING)
        runtime.project(StepResult(
            instance=instance, event="migration_reverted", ready_tasks=ready_tasks(instance, workflow),
            data=snapshot_data(workflow), actor_username=user.get_username(), previous_ready_ids=current_ready,
            detail={"result": result.pk},
        ))
        now = clock.now()
        MigrationCaseResult.objects.filter(pk=result.pk).update(outcome=CaseOutcome.REVERTED, reverted_at=now,
                                                                reverted_by=user)
        plan = result.batch.plan
        _audit_case(instance, user, summary=_("Migrazione annullata: pratica riportata alla versione %(a)s")
                    % {"a": previous.version},
                    before=_version_ref(version_by_id(plan.target_version_id)), after=_version_ref(previous),
                    extra={"plan": plan.pk, "batch": result.batch_id, "result": result.pk}, ip=ip)
        result.refresh_from_db()
        return result

    return run_in_transaction(revert, what=f"revert of migration result {result_id}")


# --------------------------------------------------------------------------- reads for the pages


def plan_list(*, tenant) -> Iterable[MigrationPlan]:
    return MigrationPlan.objects.filter(tenant=tenant).select_related(
        "definition", "source_version", "target_version", "created_by")


def plan_get(*, tenant, plan_id: int) -> MigrationPlan:
    plan = plan_list(tenant=tenant).filter(pk=plan_id).first()
    if plan is None:
        raise NotFound(_("Piano di migrazione non trovato."))
    return plan


def batch_get(*, tenant, batch_id: int) -> MigrationBatch:
    batch = MigrationBatch.objects.filter(tenant=tenant, pk=batch_id).select_related(
        "plan", "plan__definition", "plan__source_version", "plan__target_version", "created_by").first()
    if batch is None:
        raise NotFound(_("Lotto di migrazione non trovato."))
    return batch


def versions_for_tenant(*, tenant) -> list[ProcessVersion]:
    """Versions a tenant may migrate between: shipped ones and its own variants."""
    qs = ProcessVersion.objects.select_related("definition").defer("files").order_by("definition__process_id", "-version")
    if hasattr(ProcessVersion, "tenant_id") or "tenant" in {f.name for f in ProcessVersion._meta.fields}:
        from django.db.models import Q

        qs = qs.filter(Q(tenant__isnull=True) | Q(tenant=tenant))
    return list(qs)


def running_counts(*, tenant) -> dict[int, int]:
    """version id -> running cases of the tenant on it."""
    from django.db.models import Count

    rows = (WorkflowInstance.objects.filter(tenant=tenant, status__in=SELECTABLE_STATUSES)
            .values("process_version_id").annotate(n=Count("pk")))
    return {r["process_version_id"]: r["n"] for r in rows}
