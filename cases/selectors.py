"""Reads: inboxes and case search. Every function takes the tenant explicitly."""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from django.db import connections, router
from django.db.models import Q, QuerySet

from accounts.models import Tenant, User
from accounts.roles import OFFICE_ROLES, STAFF_ROLES, SUPPORT_PROCESSES, Role
from accounts.selectors import roles_for
from common.errors import NotFound
from common.operations import get_operation

from .models import Case, WorkItem, WorkItemStatus

logger = logging.getLogger(__name__)


INBOX_ORDER = ("due_at", "priority", "id")


def inbox_where(*, tenant: Tenant, user: User, scope: str = "mine") -> QuerySet[WorkItem]:
    """Which work items an inbox holds, as conditions on the work item row alone (no join), in the inbox's
    order: what its count and the choice of a page's rows read, from the inbox indexes only. A caller may
    narrow it (a filter on the item or its case) before `inbox_rows(where=)`."""
    base = WorkItem.objects.filter(tenant=tenant, status=WorkItemStatus.OPEN)
    if scope == "mine":
        return base.filter(assignee=user).order_by(*INBOX_ORDER)
    if scope == "available":
        roles = roles_for(user=user, tenant=tenant) - {Role.VIEWER, Role.CITIZEN}
        return (
            base.filter(assignee__isnull=True, role__in=sorted(roles))
            # Four-eyes rule: the person who did the earlier step may not take this one.
            .exclude(excluded_username=user.username)
            # A subquery, not a join: the planner keeps reading the inbox index in order.
            .filter(
                Q(restricted_to_candidates=False)
                | Q(pk__in=WorkItem.candidate_users.through.objects.filter(user=user).values("workitem_id"))
            )
            .order_by(*INBOX_ORDER)
        )
    if scope == "all":
        return base.order_by(*INBOX_ORDER)
    raise ValueError(scope)


def inbox_for_user(*, tenant: Tenant, user: User, scope: str = "mine") -> QuerySet[WorkItem]:
    """`mine`: open items assigned to the user; `available`: unassigned items for their roles."""
    return inbox_where(tenant=tenant, user=user, scope=scope).select_related("case", "assignee")


def inbox_count(*, tenant: Tenant, user: User, scope: str = "mine") -> int:
    """How many items the inbox holds: counted on the inbox index alone (an index-only scan of
    wi_available_idx / wi_assigned_idx), not through the join with the cases a page shows."""
    return inbox_where(tenant=tenant, user=user, scope=scope).order_by().count()


class InboxRows:
    """An inbox as its paginators read it (DRF's LimitOffsetPagination, Django's Paginator): `count()` and
    a slice. The count reads the work item rows alone; a slice first picks its page's ids from the work item
    rows in the inbox's order, then joins those few with their case and assignee. A single query that
    joins before it sorts made PostgreSQL look up the case of every item the operator's roles may take (2,400
    in the large municipality of bench/scale, ~20 ms for the count and ~60 ms for the page of an operator with
    two roles) when it misjudged how many there are."""

    def __init__(self, where: QuerySet[WorkItem], *, values: tuple[str, ...] | None = None) -> None:
        self._where = where
        self._values = values

    def count(self) -> int:
        return self._where.order_by().count()

    def __len__(self) -> int:
        return self.count()

    def __getitem__(self, index: slice) -> list:
        if not isinstance(index, slice) or (index.step or 1) != 1:
            raise TypeError("InboxRows takes a slice")
        ids = self._where.values("pk")[index]
        rows = WorkItem.objects.filter(pk__in=ids).select_related("case", "assignee").order_by(*INBOX_ORDER)
        return list(rows.values(*self._values) if self._values else rows)

    def __iter__(self) -> Iterator:
        return iter(self[0:None])


def inbox_rows(*, tenant: Tenant, user: User, scope: str = "mine", where: QuerySet[WorkItem] | None = None) -> InboxRows:
    """The inbox as model instances (with case and assignee), for the inbox page's Paginator. `where`: the
    inbox narrowed further by the caller (a filter on the work item or its case)."""
    return InboxRows(where if where is not None else inbox_where(tenant=tenant, user=user, scope=scope))


# What a row of the inbox API shows (cases.api.work_item_row), read as plain values: no model instances, and
# nothing else of the task (instructions) or of its case (data snapshot, subjects: JSON parsed for every
# row - in bench/scale the largest share of an inbox request after the query itself).
INBOX_API_VALUES = (
    "id", "case_id", "case__number", "case__process_id", "bpmn_id", "name", "role", "status", "assignee__username",
    "claimed_at", "due_at", "priority", "created_at", "completed_at",
)


def inbox_api_rows(*, tenant: Tenant, user: User, scope: str = "mine") -> InboxRows:
    """The inbox as dicts of INBOX_API_VALUES, in the inbox's order, for the API's LimitOffsetPagination."""
    return InboxRows(inbox_where(tenant=tenant, user=user, scope=scope), values=INBOX_API_VALUES)


_CASE_SENTINEL = -918273645


def case_open_task_rows(*, case_id: int) -> list[dict[str, Any]]:
    """The case's open work items as dicts of INBOX_API_VALUES, by due date then id: what the API shows as a
    case's `tasks` (after every case start). The statement is compiled once per connection (its ORM twin
    cost ~1 ms of CPU to build, on every case start); values, converters and order are the ORM's."""
    conn = connections[router.db_for_read(WorkItem)]
    cached = conn.__dict__.get("_procedo_open_task_rows")
    if cached is None:
        qs = (WorkItem.objects.using(conn.alias).filter(case_id=_CASE_SENTINEL, status=WorkItemStatus.OPEN)
              .order_by("due_at", "id").values(*INBOX_API_VALUES))
        compiler = qs.query.get_compiler(using=conn.alias)
        sql, params = compiler.as_sql()
        converters = compiler.get_converters([expression for expression, _sql, _alias in compiler.select])
        cached = (sql, list(params), params.index(_CASE_SENTINEL), compiler, converters)
        conn.__dict__["_procedo_open_task_rows"] = cached
    sql, params, position, compiler, converters = cached
    params = [*params]
    params[position] = case_id
    with conn.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    if converters:
        rows = compiler.apply_converters(rows, converters)
    return [dict(zip(INBOX_API_VALUES, row, strict=True)) for row in rows]


# The bundle of a process version (engine.models.ProcessVersion): large, read through the version cache.
VERSION_BODY = ("process_version__files", "process_version__manifest")


def case_ids_of_subject(*, tenant: Tenant, fiscal_code: str) -> QuerySet:
    """The ids of the tenant's cases naming this person, as a subquery: read from the (tenant, fiscal_code)
    index of the subject rows. A join on subject_rows filtered the case's tenant, not the subject row's,
    so PostgreSQL scanned every subject row of every tenant (85 ms at 1.3 M rows, bench/scale) and the
    join needed a DISTINCT."""
    from .models import CaseSubject

    return CaseSubject.objects.filter(tenant=tenant, fiscal_code=fiscal_code.strip().upper()).values("case_id")


def case_visible_qs(*, tenant: Tenant, user: User) -> QuerySet[Case]:
    """Cases the user may see: the office sees the tenant's cases, the supplier's support team only
    the tickets (SUPPORT_PROCESSES), citizens their own."""
    roles = roles_for(user=user, tenant=tenant)
    qs = Case.objects.filter(tenant=tenant)
    if roles & OFFICE_ROLES:
        return qs
    if Role.SUPPORT in roles:
        return qs.filter(process_id__in=sorted(SUPPORT_PROCESSES))
    if Role.CITIZEN in roles and user.fiscal_code:
        return qs.filter(pk__in=case_ids_of_subject(tenant=tenant, fiscal_code=user.fiscal_code))
    return qs.none()


def case_list(
    *,
    tenant: Tenant,
    user: User,
    number: str | None = None,
    status: str | None = None,
    process: str | None = None,
    fiscal_code: str | None = None,
    due_before: dt.date | None = None,
    due_after: dt.date | None = None,
) -> QuerySet[Case]:
    # The version row carries the whole bundle (BPMN, forms: 100-200 KB of JSON each): a list needs its
    # number and name only, so the files are not read (25 rows x 150 KB parsed per page, measured in
    # bench/scale: the largest share of a search page's time).
    qs = case_visible_qs(tenant=tenant, user=user).select_related("process_version__definition").defer(*VERSION_BODY)
    if number:
        qs = qs.filter(number__icontains=number.strip())
    if status:
        qs = qs.filter(status=status)
    if process:
        qs = qs.filter(process_id=process)
    if fiscal_code:
        qs = qs.filter(pk__in=case_ids_of_subject(tenant=tenant, fiscal_code=fiscal_code))
    if due_before:
        qs = qs.filter(legal_due_date__lte=due_before)
    if due_after:
        qs = qs.filter(legal_due_date__gte=due_after)
    return qs.order_by("-opened_at", "-id")


def case_get(*, tenant: Tenant, user: User, case_id: int) -> Case:
    # The bundle comes from engine.bundles.version_by_id (cached per process), not from this row.
    case = (case_visible_qs(tenant=tenant, user=user).select_related("process_version__definition")
            .defer(*VERSION_BODY).filter(pk=case_id).first())
    if case is None:
        raise NotFound("case not found")
    case.tenant = tenant  # the row was filtered by it: no second query for case.tenant
    return case


def work_item_get(*, tenant: Tenant, user: User, work_item_id: int) -> WorkItem:
    item = WorkItem.objects.select_related("case", "assignee", "case__process_version").filter(
        tenant=tenant, pk=work_item_id
    ).first()
    if item is None:
        raise NotFound("task not found")
    roles = roles_for(user=user, tenant=tenant)
    if roles & OFFICE_ROLES:
        return item
    if Role.SUPPORT in roles and item.case.process_id in SUPPORT_PROCESSES:
        return item
    raise NotFound("task not found")


def case_history(*, case: Case) -> list[dict]:
    """Who did what when on a case, from the audit trail (reads left out)."""
    from django.db.models import CharField
    from django.db.models.functions import Cast

    from audit.models import AuditEvent

    item_ids = WorkItem.objects.filter(case_id=case.pk).annotate(key=Cast("pk", CharField())).values("key")
    events = (
        AuditEvent.objects.filter(tenant_id=case.tenant_id)
        .filter(Q(object_type="case", object_id=str(case.pk)) | Q(object_type="work_item", object_id__in=item_ids))
        .exclude(action="read")
        .order_by("created_at", "id")
    )
    return [
        {"at": e.created_at, "actor": e.actor_username or None, "action": e.action, "summary": e.summary}
        for e in events
    ]


def team_overview(*, tenant: Tenant, today: dt.date) -> dict:
    """Workload per person, unassigned and overdue work, cases by procedure and status."""
    from django.db.models import Count

    open_items = WorkItem.objects.filter(tenant=tenant, status=WorkItemStatus.OPEN)
    per_person = (
        open_items.filter(assignee__isnull=False)
        .values("assignee__username", "assignee__first_name", "assignee__last_name")
        .annotate(open=Count("id"), overdue=Count("id", filter=Q(due_at__lt=today)))
        .order_by("-overdue", "-open", "assignee__username")
    )
    unassigned = (
        open_items.filter(assignee__isnull=True)
        .values("role")
        .annotate(open=Count("id"), overdue=Count("id", filter=Q(due_at__lt=today)))
        .order_by("role")
    )
    by_process = (
        Case.objects.filter(tenant=tenant).values("process_id", "title", "status").annotate(n=Count("id"))
        .order_by("process_id", "status")
    )
    overdue = open_items.filter(due_at__lt=today).select_related("case", "assignee").order_by("due_at")[:50]
    return {"per_person": list(per_person), "unassigned": list(unassigned), "by_process": list(by_process),
            "overdue": list(overdue)}


def case_progress(*, case: Case) -> dict[str, list[str]]:
    """BPMN element ids done and current for a case (read from its workflow state, no lock)."""
    from engine.selectors import instance_progress_by_id

    if case.instance_id is None:
        return {"done": [], "current": []}
    return instance_progress_by_id(instance_id=case.instance_id, tenant=case.tenant_id)

# --------------------------------------------------------------------------- inbox: saved filters, bulk assign

# The inbox filters a saved filter may carry (anything else in a query string is dropped).
INBOX_FILTER_KEYS = ("tab", "process", "subject")


def inbox_filter_query(params) -> str:
    """The canonical query string of the inbox filters in `params` (a QueryDict or a dict)."""
    from urllib.parse import urlencode

    pairs = []
    for key in INBOX_FILTER_KEYS:
        value = str(params.get(key) or "").strip()[:100]
        if value:
            pairs.append((key, value))
    return urlencode(pairs)


def saved_filters_for(*, tenant: Tenant, user: User) -> list:
    """The user's own filters, then those shared by colleagues who hold one of the user's roles."""
    from accounts.models import Membership

    from .models import SavedFilter

    roles = roles_for(user=user, tenant=tenant) - {Role.CITIZEN}
    team = Membership.objects.filter(tenant=tenant, role__in=list(roles), is_active=True).values("user_id")
    rows = (
        SavedFilter.objects.filter(tenant=tenant)
        .filter(Q(owner=user) | Q(shared=True, owner_id__in=team))
        .select_related("owner")
    )
    return sorted(rows, key=lambda f: (f.owner_id != user.pk, f.name.lower(), f.pk))


def assignable_users(*, tenant: Tenant, roles: set[str] | frozenset[str]) -> list[tuple[User, list[str]]]:
    """Active users of the tenant holding at least one of `roles`, each with those of the roles they hold."""
    from accounts.models import Membership

    held: dict[int, list[str]] = {}
    for user_id, role in (
        Membership.objects.filter(tenant=tenant, role__in=sorted(roles), is_active=True, user__is_active=True)
        .order_by("role")
        .values_list("user_id", "role")
    ):
        held.setdefault(user_id, []).append(role)
    users = User.objects.filter(pk__in=held).order_by("last_name", "first_name", "username")
    return [(u, held[u.pk]) for u in users]


def open_work_item_roles(*, tenant: Tenant, work_item_ids: list[int]) -> set[str]:
    return set(
        WorkItem.objects.filter(tenant=tenant, pk__in=work_item_ids, status=WorkItemStatus.OPEN)
        .values_list("role", flat=True)
        .distinct()
    )


# --------------------------------------------------------------------------- incidents for administrators

# A platform's name as people in a registry office know it, from an operation's prefix.
PLATFORM_NAMES = {
    "anpr": "ANPR", "appio": "App IO", "pagopa": "pagoPA", "send": "SEND",
    "protocol": "protocollo informatico", "protocollo": "protocollo informatico", "parer": "PARER (conservazione)",
    "documents": "produzione dei documenti",
}
_TIMEOUT = {"ConnectorTimeout", "TimeoutException", "ReadTimeout", "ConnectTimeout", "WriteTimeout", "PoolTimeout",
            "TimeoutError", "SoftTimeLimitExceeded"}
_UNREACHABLE = {"ConnectorUnavailable", "ConnectError", "ConnectionError", "TransportError", "NetworkError",
                "RemoteProtocolError", "ConnectionRefusedError"}
_REFUSED = {"PlatformRefused"}
_INVALID_DATA = {"InvalidRequest", "XmlSchemaInvalid", "ValidationFailed"}
_BAD_ANSWER = {"InvalidResponse", "MalformedXml", "UnsafeXml", "UnexpectedContentType", "ResponseTooLarge"}
_MISSING_DATA = {"NameError", "KeyError", "UnboundLocalError"}
_BAD_DATA = {"TypeError", "ValueError", "ZeroDivisionError", "AttributeError", "IndexError"}


@dataclass
class IncidentExplanation:
    category: str  # timeout | unreachable | refused | invalid_data | bad_answer | unknown_operation | script | engine
    text: str  # what happened, in plain Italian
    advice: str  # what to do about it


@dataclass
class IncidentRow:
    incident: Any
    case_id: int | None
    case_number: str
    procedure: str
    task: str
    attempts: int
    explanation: IncidentExplanation
    technical: str
    # (BPMN id, name) of the tasks the case may be sent back to, to correct the data (data errors only)
    send_back_targets: list[tuple[str, str]] = field(default_factory=list)


def _last_exception(details: str) -> tuple[str, str]:
    """The class name and message of the outermost exception of a formatted traceback."""
    for line in reversed((details or "").splitlines()):
        if not line or line[0].isspace():
            continue
        match = re.match(r"^([A-Za-z_][\w.]*)(?::\s?(.*))?$", line)
        if match:
            return match.group(1).rsplit(".", 1)[-1], match.group(2) or ""
    return "", ""


def incident_explain(incident, *, operation: str = "") -> IncidentExplanation:
    """Map the technical error of an incident to a sentence an administrator understands."""
    from django.utils.translation import gettext as _

    cls, text = _last_exception(incident.details)
    if incident.kind == "script_error":
        step = incident.task_name or incident.task_bpmn_id or "?"
        inner = re.match(r"^(\w+):", text or incident.message.split(": ", 1)[-1])
        inner_cls = inner.group(1) if inner else cls
        if inner_cls in _MISSING_DATA:
            name = re.search(r"name '([^']+)'", text) or re.search(r"KeyError:\s*'([^']+)'", text)
            return IncidentExplanation(
                "script",
                _("Il calcolo automatico «%(step)s» non ha trovato un dato che si aspettava%(name)s.")
                % {"step": step, "name": f" ({name.group(1)})" if name else ""},
                _("Di solito manca un'informazione nella pratica o il modello del procedimento va corretto: "
                  "riprovare senza cambiare nulla darà lo stesso errore."),
            )
        if inner_cls in _BAD_DATA:
            return IncidentExplanation(
                "script",
                _("Il calcolo automatico «%(step)s» ha ricevuto dati non validi.") % {"step": step},
                _("Controlla i dati della pratica; se sono corretti, il modello del procedimento va corretto."),
            )
        return IncidentExplanation(
            "script",
            _("Il calcolo automatico «%(step)s» non è riuscito.") % {"step": step},
            _("Serve l'assistenza tecnica: il dettaglio qui sotto spiega l'errore."),
        )
    if incident.kind != "service_failed":
        return IncidentExplanation(
            "engine", _("Errore interno del motore dei procedimenti."),
            _("Riprova; se l'errore continua, contatta l'assistenza tecnica."),
        )
    prefix = operation.split(".", 1)[0] if operation else ""
    platform = PLATFORM_NAMES.get(prefix, prefix or _("esterno"))
    retry_later = _("Riprova; se l'errore continua, verifica con il gestore del servizio.")
    if cls in _TIMEOUT:
        return IncidentExplanation(
            "timeout", _("Il servizio %(p)s non ha risposto in tempo.") % {"p": platform}, retry_later
        )
    if cls in _UNREACHABLE:
        return IncidentExplanation(
            "unreachable",
            _("Il servizio %(p)s non è raggiungibile o è momentaneamente fuori servizio.") % {"p": platform},
            retry_later,
        )
    if cls in _REFUSED:
        code = re.search(r"codice ([^\s,):]+)", text)
        status = re.search(r"HTTP (\d{3})", text)
        shown = code.group(1) if code and code.group(1) != "-" else (f"HTTP {status.group(1)}" if status else "")
        return IncidentExplanation(
            "refused",
            (_("Il servizio %(p)s ha rifiutato la richiesta con il codice %(c)s.") % {"p": platform, "c": shown})
            if shown else _("Il servizio %(p)s ha rifiutato la richiesta.") % {"p": platform},
            _("Il servizio ha giudicato la richiesta non accettabile: correggi i dati della pratica prima di "
              "riprovare."),
        )
    if cls in _INVALID_DATA:
        return IncidentExplanation(
            "invalid_data",
            _("I dati della pratica non sono validi per il servizio %(p)s.") % {"p": platform},
            _("Correggi i dati indicati nel dettaglio tecnico, poi riprova."),
        )
    if cls in _BAD_ANSWER:
        return IncidentExplanation(
            "bad_answer",
            _("Il servizio %(p)s ha dato una risposta che Procedo non riesce a leggere.") % {"p": platform},
            retry_later,
        )
    if cls == "PermanentError" and not get_operation(operation):
        return IncidentExplanation(
            "unknown_operation",
            _("Il procedimento chiama un'operazione che Procedo non conosce (%(o)s).") % {"o": operation},
            _("Serve l'assistenza tecnica: il modello del procedimento o la configurazione vanno corretti."),
        )
    return IncidentExplanation(
        "other", _("Il servizio %(p)s non ha risposto correttamente.") % {"p": platform}, retry_later
    )


def incident_admin_list(*, tenant: Tenant, resolved: bool = False) -> QuerySet:
    from engine.models import Incident, IncidentStatus

    qs = Incident.objects.for_tenant(tenant).select_related(
        "instance__process_version__definition", "outbox", "resolved_by"
    )
    if resolved:
        return qs.filter(status=IncidentStatus.RESOLVED).order_by("-resolved_at", "-id")
    return qs.filter(status=IncidentStatus.OPEN).order_by("-created_at", "-id")


def incident_rows(incidents) -> list[IncidentRow]:
    """One display row per incident: case, procedure, task, attempts, plain explanation."""
    from django.db.models import Count

    from engine.models import Incident

    incidents = list(incidents)
    script_keys = {(i.instance_id, i.task_bpmn_id) for i in incidents if not i.outbox_id}
    # A script step that failed again after a retry opens a new incident: count them as attempts.
    failures: dict[tuple[int, str], int] = {}
    if script_keys:
        for row in (
            Incident.objects.filter(instance_id__in={k[0] for k in script_keys}, outbox__isnull=True)
            .values("instance_id", "task_bpmn_id")
            .annotate(n=Count("id"))
        ):
            failures[(row["instance_id"], row["task_bpmn_id"])] = row["n"]
    rows = []
    for incident in incidents:
        operation = incident.outbox.operation if incident.outbox_id else ""
        op = get_operation(operation) if operation else None
        task = incident.task_name or (op.description if op else "") or incident.task_bpmn_id or operation
        attempts = incident.outbox.attempts if incident.outbox_id else failures.get(
            (incident.instance_id, incident.task_bpmn_id), 1
        )
        technical = incident.message + (f"\n\n{incident.details}" if incident.details else "")
        targets: list[tuple[str, str]] = []
        if incident.data_error and incident.status == "open":
            from engine.selectors import incident_send_back_targets

            try:
                targets = incident_send_back_targets(incident=incident)
            except Exception:  # noqa: BLE001 - an unreadable state has its own incident; no button then
                logger.warning("incident %s: send-back targets not available", incident.pk, exc_info=True)
        rows.append(IncidentRow(
            incident=incident, case_id=incident.instance.case_id, case_number=incident.instance.case_number,
            procedure=incident.instance.process_version.definition.name, task=task, attempts=attempts,
            explanation=incident_explain(incident, operation=operation), technical=technical,
            send_back_targets=targets,
        ))
    return rows


# --------------------------------------------------------------------------- the citizen's view of a case

# Notices a platform delivered to a person: operation -> (recipient's fiscal code, subject, text)
# parameters, dotted paths into the call's parameters.
NOTICE_OPERATIONS = {
    "appio.send_message": ("fiscal_code", "subject", "markdown"),
    "send.create_notification": ("recipient.tax_id", "subject", "abstract"),
    "notify.citizen": ("recipient.fiscal_code", "title", "markdown"),
}


def _param(params: Any, path: str) -> str:
    for key in path.split("."):
        params = params.get(key) if isinstance(params, dict) else None
    return str(params or "")


def case_is_public_only(*, tenant: Tenant, user: User) -> bool:
    """A user with no office role in the tenant (a citizen) sees only the public view of a case."""
    return not roles_for(user=user, tenant=tenant) & STAFF_ROLES


def _only_own_people(value: Any, own: str) -> Any:
    """`value` without the entries of other people (objects carrying someone else's fiscal code)."""
    if isinstance(value, dict):
        return {k: _only_own_people(v, own) for k, v in value.items()}
    if isinstance(value, list):
        return [
            _only_own_people(v, own) for v in value
            if not (isinstance(v, dict) and isinstance(v.get("fiscal_code"), str) and v["fiscal_code"].upper() != own)
        ]
    return value


def case_milestones(*, case: Case, manifest: Any) -> list[dict[str, Any]]:
    """The public milestones the case reached, in the order it reached them (not the model's):
    an opposition filed after the other municipality's confirmation comes after it. Two elements
    with the same label (e.g. the early and the late confirmation) show once, where first reached."""
    from engine.selectors import instance_reached

    if case.instance_id is None:
        return []
    labels = dict(manifest.public_milestones)
    out: list[dict[str, Any]] = []
    seen: dict[str, dict[str, Any]] = {}
    for element, current in instance_reached(instance=case.instance):
        label = labels.get(element)
        if label is None:
            continue
        if label in seen:
            seen[label]["current"] = seen[label]["current"] or current
            continue
        seen[label] = {"label": label, "current": current}
        out.append(seen[label])
    return out


def case_public_view(*, case: Case, user: User) -> dict[str, Any]:
    """What a citizen (and the portal) may know of their own case.

    Status and dates, the milestones the procedure declares public (manifest `public_milestones`),
    the documents filed in their dossier, the notices sent to them and the start data they
    submitted. Never: internal notes, operators (usernames, names, assignees), tasks, audit
    history, incidents, service results (ANPR answers...) or other people's data. A co-declarant
    is a party to the same declaration, but each adult declarant has their own account and sees
    their own entry there: minimisation (GDPR art. 5(1)(c)) keeps the others' fiscal codes,
    names and birth dates out of this view, and non-declarant subjects never appear in it.
    """
    from documents.selectors import document_list_for_case
    from engine.bundles import version_by_id, version_form
    from engine.manifest import manifest_of
    from engine.models import OutboxMessage, OutboxStatus

    own = (user.fiscal_code or "").upper()
    version = version_by_id(case.process_version_id)
    manifest = manifest_of(version)
    milestones = case_milestones(case=case, manifest=manifest)
    start_form = manifest.start_form
    fields = (version_form(version, start_form).get("properties") or {}) if start_form else {}
    submitted = {k: _only_own_people(v, own) for k, v in case.data.items() if k in fields}
    documents = [
        {"id": d.pk, "title": d.title or d.filename, "filename": d.filename, "created_at": d.created_at,
         "signed": d.signed, "verification_code": d.verification_code, "revoked": d.revoked_at is not None}
        for d in document_list_for_case(tenant=case.tenant, user=user, case_id=case.pk, case=case)
        .order_by("created_at", "pk")
    ]
    notices = []
    if case.instance_id and own:
        for message in OutboxMessage.objects.filter(
            instance_id=case.instance_id, operation__in=list(NOTICE_OPERATIONS), status=OutboxStatus.DONE
        ).order_by("updated_at", "pk"):
            to, subject, text = NOTICE_OPERATIONS[message.operation]
            params = message.params or {}
            recipients = params.get("recipients") if message.operation == "notify.citizen" else None
            if isinstance(recipients, list):  # sent to several people: the one addressed to them
                from .notices import greeting

                person = next((p for p in recipients if isinstance(p, dict)
                               and str(p.get("fiscal_code") or "").upper() == own), None)
                if person is not None:
                    notices.append({"subject": _param(params, subject),
                                    "text": greeting(person, _param(params, text)), "sent_at": message.updated_at})
                continue
            if _param(params, to).upper() == own:
                notices.append({"subject": _param(params, subject), "text": _param(params, text),
                                "sent_at": message.updated_at})
    return {
        "id": case.pk,
        "number": case.number,
        "procedure": version.definition.name,
        "status": case.status,
        "status_label": case.get_status_display(),
        "outcome": case.outcome,
        "outcome_label": manifest.outcome_label(case.outcome),
        "opened_at": case.opened_at,
        "closed_at": case.closed_at,
        "legal_due_date": case.legal_due_date,
        "milestones": milestones,
        "documents": documents,
        "notices": notices,
        "submitted": submitted,
    }


def comment_list(*, case: Case, user: User) -> QuerySet:
    """The internal notes of a case: the office's only, never shown to citizens."""
    from django.utils.translation import gettext as _

    from common.errors import PermissionRefused

    if case_is_public_only(tenant=case.tenant, user=user):
        raise PermissionRefused(_("Le note interne della pratica sono riservate all'ufficio."), code="internal_notes")
    return case.comments.select_related("author")


def case_notices(*, case: Case) -> list:
    """The notices the case sent to citizens, in the order sent (case page: delivery status)."""
    from .models import CitizenNotice

    return list(CitizenNotice.objects.filter(tenant_id=case.tenant_id, case=case).order_by("sent_at", "pk"))


def linked_cases(*, case: Case) -> list[Case]:
    """The cases linked to this one, both ways: the case it was opened from (`linked_case` in its
    data, e.g. the ANPR portal request behind a residence change) and the cases opened from it
    (`linked_residence_case` in its data, or another case whose `linked_case` names it). Same tenant only."""
    data = case.data if isinstance(case.data, dict) else {}
    numbers = {str(data.get("linked_case") or "")}
    opened = data.get("linked_residence_case")
    if isinstance(opened, dict):
        numbers.add(str(opened.get("case_number") or ""))
    numbers.discard("")
    found = Case.objects.filter(tenant_id=case.tenant_id).exclude(pk=case.pk).filter(
        Q(number__in=numbers) | Q(data__linked_case=case.number)).only("pk", "number", "title", "business_key", "status")
    return list(found.order_by("number")[:20])
