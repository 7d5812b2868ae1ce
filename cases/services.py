"""Writes on cases and work items. The only callers of the engine's write API.

Every write here runs through `engine.locks.run_in_transaction` (a deadlock or serialization
failure replays the whole transaction, when it is ours) and takes its locks in the order that
`engine.locks` documents: the case's instance row first, then rows of the case. Each engine call
passes `cases.projection.project`, which turns the step into work items, case status and the
system's audit events; the audit of what a person did is written here, once per action.
"""

from __future__ import annotations

import copy
import datetime as dt
import functools
import json
import logging
import re
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.db.models import Subquery
from django.utils.translation import gettext as _

from accounts.models import Tenant, User
from accounts.roles import Role
from accounts.selectors import roles_for
from audit.events import message_delivered_event, message_refused_event
from audit.services import audit_prepare, audit_record
from common import clock
from common.errors import Conflict, NotFound, PermissionRefused, ValidationFailed
from engine import services as engine
from engine.bundles import version_by_id, version_form
from engine.locks import lock_instance, mark_locked, run_in_transaction
from engine.manifest import manifest_of
from engine.models import IncidentStatus, InstanceStatus, ProcessVersion
from engine.selectors import process_latest_version, process_latest_version_id
from forms.validation import validate_data

from . import statements
from .models import Case, CaseNumberSequence, CaseStatus, CaseSubject, Comment, WorkItem, WorkItemStatus
from .process_settings import settings_for
from .projection import project
from .signals import subjects_watched

logger = logging.getLogger(__name__)

# Who may open a case through the API/counter: any operator of the tenant except read-only.
CASE_OPENER_ROLES = frozenset({Role.REGISTRAR, Role.CIVIL_REGISTRAR, Role.POLICE, Role.SUPERVISOR, Role.CITIZEN})


# --------------------------------------------------------------------------- helpers


def _extract(data: Any, path: str) -> list[Any]:
    """Tiny path reader for manifest paths such as `declarants[*].fiscal_code`."""
    current = [data]
    for part in path.split("."):
        star = part.endswith("[*]")
        key = part[:-3] if star else part
        nxt = []
        for item in current:
            value = item.get(key) if isinstance(item, dict) else None
            if value is None:
                continue
            if star and isinstance(value, list):
                nxt.extend(value)
            elif not star:
                nxt.append(value)
        current = nxt
    return current


def _subjects(version: ProcessVersion, data: dict[str, Any]) -> list[dict[str, str]]:
    path = manifest_of(version).subjects_path
    if not path:
        return []
    parent_path, _sep, leaf = path.rpartition(".")
    people = _extract(data, parent_path) if parent_path else [data]
    subjects = []
    for person in people:
        if isinstance(person, dict) and isinstance(person.get(leaf), str):
            subjects.append(
                {
                    "fiscal_code": person[leaf].upper(),
                    "given_name": str(person.get("given_name", "")),
                    "family_name": str(person.get("family_name", "")),
                }
            )
    return subjects


def _legal_due_date(version: ProcessVersion, tenant: Tenant, received_on: dt.date) -> dt.date | None:
    """The case's legal term, counted from the day the request reached the office (`received_on`),
    with the tenant's one day-counting rule (engine.script_helpers.WorkCalendar)."""
    deadline = manifest_of(version).legal_deadline
    days = deadline.days if deadline else None
    if not days:
        return None
    calendar = tenant.work_calendar
    if deadline.kind == "working":  # type: ignore[union-attr]
        return calendar.add_working_days(received_on, int(days))
    return calendar.term_end(received_on, int(days))


# How a request reached the office (`channel` of the start data).
RECEIPT_CHANNELS = ("counter", "pec", "post", "email", "portal", "anpr")
# A receipt date further back than this many working days needs a supervisor and a reason.
RECEIPT_BACKDATE_WORKING_DAYS = 5


def _receipt(tenant: Tenant, roles: frozenset[str], start_channel: str, data: dict[str, Any],
             received_on: Any, channel: Any, reason: str) -> dict[str, Any]:
    """Check the date of receipt and the channel of a request; return them for the case data.

    `received_on` defaults to today, is never in the future, and may be older than
    RECEIPT_BACKDATE_WORKING_DAYS working days only for a supervisor who gives a reason. A citizen
    filing online receives it today through the portal, whatever they send.
    """
    from engine.script_helpers import parse_date

    today = clock.today()
    channel = channel or ("portal" if start_channel == "portal" else "counter")
    reason = (reason or "").strip()
    if received_on in (None, ""):
        day = today
    else:
        try:
            day = dt.date.fromisoformat(parse_date(received_on))
        except (ValueError, TypeError):
            raise ValidationFailed(_("Data di ricezione non valida."),
                                   details={"received_on": [_("Usa il formato AAAA-MM-GG.")]}) from None
    if channel not in RECEIPT_CHANNELS:
        raise ValidationFailed(_("Canale di ricezione sconosciuto."),
                               details={"channel": [_("Valori ammessi: %(v)s.") % {"v": ", ".join(RECEIPT_CHANNELS)}]})
    if start_channel == "portal" and (day != today or channel != "portal"):
        raise ValidationFailed(_("Una domanda presentata online si considera ricevuta oggi, tramite il portale."),
                               details={"received_on": [_("Non modificabile per le domande online.")]})
    if day > today:
        raise ValidationFailed(_("La data di ricezione non può essere futura."),
                               details={"received_on": [_("La data di ricezione non può essere futura.")]})
    late = tenant.work_calendar.working_days_between(day, today) > RECEIPT_BACKDATE_WORKING_DAYS
    if late:
        if Role.SUPERVISOR not in roles:
            raise PermissionRefused(
                _("Solo un responsabile può indicare una data di ricezione anteriore di oltre %(n)s giorni lavorativi.")
                % {"n": RECEIPT_BACKDATE_WORKING_DAYS}, code="received_on_not_allowed")
        if not reason:
            raise ValidationFailed(_("Indica il motivo della data di ricezione anteriore."),
                                   details={"received_on_reason": [_("Campo obbligatorio.")]})
    receipt = {"received_on": day.isoformat(), "channel": channel}
    if late:
        receipt["received_on_reason"] = reason[:500]
    return receipt


def _next_number(tenant: Tenant, year: int) -> str:
    for _attempt in range(3):
        # One UPDATE ... RETURNING advances the sequence and locks its row (lock level 0).
        last = statements.case_number_next(tenant_id=tenant.pk, year=year)
        if last is None:  # the first case of the year
            try:
                with transaction.atomic():
                    CaseNumberSequence.objects.create(tenant=tenant, year=year, last=0)
            except IntegrityError:
                pass  # another transaction created it first
            continue
        return f"{year}/{last:06d}"
    raise Conflict(_("Impossibile assegnare il numero di pratica, riprova."))


def _require_roles(user: User, tenant: Tenant, allowed: frozenset[str] | set[str], message: str) -> frozenset[str]:
    roles = roles_for(user=user, tenant=tenant)
    if not roles.intersection(allowed):
        raise PermissionRefused(message)
    return roles


def _form_json(version: ProcessVersion, form: str) -> str:
    return json.dumps(version_form(version, form))


# --------------------------------------------------------------------------- start


def _start_channel(version: ProcessVersion, user: User, roles: frozenset[str]) -> str:
    """How `user` may open a case of `version` ("counter" or "portal"), or refuse.

    The manifest declares who may start a procedure (`starters`) and through which channel
    (`channel`); a version that declares neither lets nobody start it. A procedure opened only by
    a national platform (`channel: platform`, e.g. ANPR portal requests) is never started by a
    person: its start data (a request code) would name someone else's request.
    """
    channels = manifest_of(version).channels
    starters = manifest_of(version).starters
    if not channels & {"counter", "portal"}:
        raise PermissionRefused(
            _("Questo procedimento viene avviato solo dal sistema, non da una persona."), code="start_not_allowed"
        )
    if "counter" in channels and roles & (starters - {Role.CITIZEN}):
        return "counter"
    if "portal" in channels and Role.CITIZEN in roles and Role.CITIZEN in starters:
        return "portal"
    raise PermissionRefused(
        _("Il tuo ruolo non consente di aprire pratiche di questo procedimento."), code="start_not_allowed"
    )


def case_startable(*, tenant: Tenant, user: User, version: ProcessVersion) -> bool:
    """Whether `user` may open a case of `version` (for the pages that list procedures)."""
    try:
        _start_channel(version, user, roles_for(user=user, tenant=tenant))
    except PermissionRefused:
        return False
    return True


IDEMPOTENCY_KEY_RE = re.compile(r"^[A-Za-z0-9._:-]{8,100}$")


def case_by_idempotency_key(*, tenant: Tenant, user: User, key: str) -> Case | None:
    """The case an earlier call with this key opened (None: no such call). A key is the caller's: another
    user's key is refused, never answered with their case."""
    case = Case.objects.filter(tenant=tenant, idempotency_key=key).first() if key else None
    if case is not None and case.created_by_id != user.pk:
        raise Conflict(_("Questa chiave di idempotenza è già stata usata da un altro utente."), code="idempotency_key_reused")
    return case


def case_start(
    *, tenant: Tenant, user: User, process_id: str, data: dict[str, Any], ip: str | None = None,
    received_on: Any = None, channel: str | None = None, received_on_reason: str = "", idempotency_key: str = "",
) -> Case:
    """Open a case. `received_on` (ISO date, default today) is the day the request reached the
    office: every term runs from it; `channel` says how (RECEIPT_CHANNELS). Both end up in the
    case data, checked by `_receipt`.

    `idempotency_key` (the API's Idempotency-Key header): a second call with the same key gives back
    the case the first one opened, marked `replayed`, and opens nothing (also when both run at once:
    the unique index makes the second wait for the first and then find its case)."""
    if idempotency_key:
        if not IDEMPOTENCY_KEY_RE.match(idempotency_key):
            raise ValidationFailed(_("Chiave di idempotenza non valida: da 8 a 100 caratteri tra lettere, cifre e . _ : -"),
                                   details={"idempotency_key": [_("Formato non valido.")]}, code="invalid_idempotency_key")
        existing = case_by_idempotency_key(tenant=tenant, user=user, key=idempotency_key)
        if existing is not None:
            existing.replayed = True
            return existing
    roles = _require_roles(user, tenant, CASE_OPENER_ROLES, _("Il tuo ruolo non consente di aprire pratiche."))
    try:
        version = _latest_version(process_id, tenant)
    except NotFound as exc:
        raise ValidationFailed(
            _("Procedimento sconosciuto: %(p)s") % {"p": process_id},
            details={"process": [_("Procedimento sconosciuto.")]},
        ) from exc
    start_channel = _start_channel(version, user, roles)
    _validate_start_data(version, data)
    _refuse_platform_only(version, data)
    subjects = _subjects(version, data)
    if start_channel == "portal":
        # A citizen files only for themselves (and those declaring with them).
        own = (user.fiscal_code or "").upper()
        if not own or own not in {s["fiscal_code"] for s in subjects}:
            raise PermissionRefused(_("Puoi presentare una domanda solo se sei tra i dichiaranti."))
    receipt = _receipt(tenant, roles, start_channel, data, received_on, channel, received_on_reason)
    data = _with_start_defaults(version, data)
    try:
        return _open_case(tenant=tenant, version=version, data={**data, **receipt}, subjects=subjects, user=user, ip=ip,
                          idempotency_key=idempotency_key)
    except IntegrityError:
        existing = case_by_idempotency_key(tenant=tenant, user=user, key=idempotency_key)
        if existing is None:
            raise
        existing.replayed = True  # the same call, running at the same time, opened it first
        return existing


def _latest_version(process_id: str, tenant: Tenant) -> ProcessVersion:
    """The version the tenant's new cases start on (its own published variant, else the newest
    shipped one): its id read fresh, the immutable version from the cache."""
    version_id = process_latest_version_id(process_id=process_id, tenant=tenant)
    if version_id is None:
        raise NotFound(f"unknown process {process_id!r}", code="unknown_process")
    return version_by_id(version_id)


def _validate_start_data(version: ProcessVersion, data: Any) -> None:
    start_form = manifest_of(version).start_form
    if not isinstance(data, dict):
        raise ValidationFailed(_("I dati devono essere un oggetto JSON."), details={"data": ["invalid"]})
    if not start_form:  # a version stored before every procedure had one: nothing to check against
        raise PermissionRefused(
            _("Questo procedimento non dichiara i dati di avvio: non si può aprire."), code="start_not_allowed"
        )
    errors = validate_data(_form_json(version, start_form), data)
    if errors:
        raise ValidationFailed(_("I dati della domanda non sono validi."), details={"data": errors})


def _refuse_platform_only(version: ProcessVersion, data: dict[str, Any]) -> None:
    """Fields of the start schema marked `"x-platform-only": true` (the ANPR request a residence
    change answers, the case it was opened from) are set only by the case that opens it
    (`cases.open_linked`): a person naming them could have the outcome reported on someone else's
    request."""
    start_form = manifest_of(version).start_form
    properties = (version_form(version, start_form).get("properties") or {}) if start_form else {}
    given = [key for key, prop in properties.items()
             if isinstance(prop, dict) and prop.get("x-platform-only") and data.get(key) not in (None, "")]
    if given:
        raise ValidationFailed(_("I dati della domanda non sono validi."),
                               details={"data": {key: [_("Campo impostato solo dal sistema.")] for key in given}})


def _with_start_defaults(version: ProcessVersion, data: dict[str, Any]) -> dict[str, Any]:
    """The start data with the `default` of every top-level property of the start schema that the
    request left out, so that the model can read an optional field by name (the sandbox has no way
    to ask whether a name exists: a missing optional field would be an incident)."""
    start_form = manifest_of(version).start_form
    properties = version_form(version, start_form).get("properties") if start_form else None
    defaults = {key: copy.deepcopy(prop["default"]) for key, prop in (properties or {}).items()
                if isinstance(prop, dict) and "default" in prop and key not in data}
    return {**data, **defaults} if defaults else data


def _open_case(*, tenant: Tenant, version: Any, data: dict[str, Any], subjects: list[dict[str, Any]],
               user: User | None, ip: str | None = None, business_key: str = "",
               summary: str | None = None, idempotency_key: str = "") -> Case:
    process_id = version.definition.process_id
    manifest = manifest_of(version)
    if manifest.settings:
        # The municipality's choices for this procedure, as they are today (cases.process_settings).
        data = {**data, "settings": settings_for(tenant, manifest)}

    received_on = dt.date.fromisoformat(str(data.get("received_on") or clock.today().isoformat())[:10])

    def open_it() -> Case:
        now = clock.now()
        case = Case(
            tenant=tenant,
            process_id=process_id,
            process_version=version,
            title=version.definition.name,
            subjects=subjects,
            data=data,
            opened_at=now,
            updated_at=now,
            legal_due_date=_legal_due_date(version, tenant, received_on),
            created_by=user,
            idempotency_key=idempotency_key,
        )
        year = clock.today().year
        subject_rows = lambda: [  # noqa: E731 - built once the case has its key
            CaseSubject(tenant=tenant, case=case, fiscal_code=code) for code in {s["fiscal_code"]: s for s in subjects}
        ]
        together: list[tuple[str, Any]] = []  # statements the projection's statement carries
        instance_id = None
        if connection.vendor == "postgresql":
            # Number, case row and the instance's key in one statement; the subjects, the instance,
            # its work items, the case's link and the audit event in the projection's one.
            instance_id = statements.case_insert_numbered(case, year=year, fiscal_codes=sorted(
                {s["fiscal_code"] for s in subjects}))
            if subjects:
                together.append(statements.insert_sql(subject_rows()))
        else:
            case.number = _next_number(tenant, year)
            case.subjects_watched = subjects_watched(tenant.pk, sorted({s["fiscal_code"] for s in subjects}))
            case.save(force_insert=True)
            CaseSubject.objects.bulk_create(subject_rows())
        number = case.number
        # The opening's event is known now: the projection's statement carries it (cases.projection).
        opened = audit_prepare(
            tenant=tenant,
            actor=user,
            action="create",
            object_type="case",
            object_id=str(case.pk),
            object_repr=number,
            summary=summary or _("Aperta la pratica %(n)s (%(p)s)") % {"n": number, "p": version.definition.name},
            after={"process": process_id, "version": version.version, "subjects": [s["fiscal_code"] for s in subjects],
                   **{k: data[k] for k in ("received_on", "channel", "received_on_reason") if k in data}},
            ip=ip,
        )
        result = engine.instance_start(
            tenant=tenant,
            version=version,
            data=data,
            case_id=case.pk,
            case_number=number,
            business_key=business_key,
            actor_username=user.username if user is not None else None,
            projector=functools.partial(project, audit=opened, carry=together),
            instance_id=instance_id,
        )
        opened.write()  # nothing when the projection wrote it
        # The projection of the start wrote the case's link to its instance, data and status.
        case.instance = result.instance
        case.business_key = result.instance.business_key
        case.data = result.data
        case.outcome = str(result.data.get("final_outcome") or "")[:100]
        case.has_open_incident = bool(result.new_incidents)
        return case

    case = run_in_transaction(open_it, what="case start")
    if case.status == CaseStatus.OPEN and case.instance.status in (InstanceStatus.COMPLETED, InstanceStatus.CANCELLED):
        case.refresh_from_db()  # a process that ended at its start: the projection closed the case
    return case


def case_start_from_platform(*, tenant: Tenant, process_id: str, data: dict[str, Any], business_key: str,
                             source: str, received_on: str | None = None,
                             channel: str | None = None) -> tuple[Case, bool]:
    """Open a case for a request that arrived from a national platform (no user behind it).
    `received_on` (ISO date, not in the future; default today) and `channel` (RECEIPT_CHANNELS,
    default portal) are recorded as for a case opened at the office: the platform's own request
    date is the date of receipt.

    Idempotent on (tenant, process, business key): the same request arriving twice gives
    back the case opened the first time, `created` False. Concurrent pollers are
    serialised on the tenant row.
    """
    version = process_latest_version(process_id=process_id, tenant=tenant)
    if "platform" not in manifest_of(version).channels:
        raise PermissionRefused(
            _("Il procedimento %(p)s non si apre da una piattaforma.") % {"p": process_id}, code="start_not_allowed"
        )
    _validate_start_data(version, data)
    data = _with_start_defaults(version, data)
    data = {**data, **_platform_receipt(received_on, channel)}

    def open_once() -> tuple[Case, bool]:
        Tenant.objects.select_for_update().filter(pk=tenant.pk).first()  # lock level 0 (engine.locks)
        existing = Case.objects.filter(tenant=tenant, process_id=process_id, business_key=business_key).first()
        if existing is not None:
            return existing, False
        case = _open_case(
            tenant=tenant, version=version, data=data, subjects=_subjects(version, data), user=None,
            business_key=business_key,
            summary=_("Aperta la pratica per una richiesta ricevuta da %(source)s (%(key)s)")
            % {"source": source, "key": business_key},
        )
        return case, True

    return run_in_transaction(open_once, what="case start from a platform")


def _platform_receipt(received_on: str | None, channel: str | None) -> dict[str, Any]:
    today = clock.today()
    try:
        day = dt.date.fromisoformat(str(received_on or today.isoformat())[:10])
    except ValueError:
        raise ValidationFailed(_("Data di ricezione non valida."),
                               details={"received_on": [_("Usa il formato AAAA-MM-GG.")]}) from None
    if channel is not None and channel not in RECEIPT_CHANNELS:
        raise ValidationFailed(_("Canale di ricezione non ammesso."), details={"channel": ["invalid"]})
    return {"received_on": min(day, today).isoformat(), "channel": channel or "portal"}


# --------------------------------------------------------------------------- work items


def _lock_work_item(work_item_id: int, tenant: Tenant) -> WorkItem:
    item = (
        WorkItem.objects.select_for_update(of=("self",))
        .select_related("case")
        .defer("case__data", "case__subjects")
        .filter(pk=work_item_id, tenant=tenant)
        .first()
    )
    if item is None:
        raise NotFound(_("Compito non trovato."))
    return item


def _ensure_open(item: WorkItem) -> None:
    if item.status != WorkItemStatus.OPEN:
        raise Conflict(_("Il compito è già stato completato."), code="already_completed")


def _ensure_can_work(item: WorkItem, user: User, roles: frozenset[str]) -> None:
    if item.role not in roles and Role.SUPERVISOR not in roles:
        raise PermissionRefused(_("Questo compito spetta al ruolo «%(r)s».") % {"r": item.role})
    if item.excluded_username and item.excluded_username == user.username:
        raise PermissionRefused(
            _("Regola dei quattro occhi: non puoi svolgere questo passo perché hai svolto il passo precedente."),
            code="four_eyes",
        )


def work_item_claim(*, work_item_id: int, tenant: Tenant, user: User, ip: str | None = None) -> WorkItem:
    roles = roles_for(user=user, tenant=tenant)

    def write() -> WorkItem:
        now = clock.now()
        summary_format = _("Preso in carico «%(t)s»")
        event = audit_prepare(tenant=tenant, actor=user, action="claim", object_type="work_item",
                              object_id=str(work_item_id), ip=ip)
        # Fast path: one conditional UPDATE ... RETURNING holds every rule of a claim (open,
        # unassigned, the user's role, four-eyes) and takes the row lock; exactly one claimant
        # wins; its audit event travels in the same statement (PostgreSQL). When it matches
        # nothing, the checks below say why, under the row lock.
        claimed = statements.work_item_claim_row(
            work_item_id=work_item_id, tenant_id=tenant.pk, user_id=user.pk, username=user.username,
            roles=None if Role.SUPERVISOR in roles else roles, now=now, audit=event, summary_format=summary_format,
        )
        if claimed is not None:
            item, case_number, process_id = claimed
            item.assignee = user
            item.case = Case.from_db(
                None, ["id", "tenant_id", "number", "process_id"], [item.case_id, tenant.pk, case_number, process_id]
            )
            return item
        item = _lock_work_item(work_item_id, tenant)
        _ensure_open(item)
        _ensure_can_work(item, user, roles)
        if item.assignee_id == user.pk:
            return item
        if item.assignee_id is not None:
            raise Conflict(
                _("Il compito è già stato preso in carico da %(u)s.") % {"u": item.assignee.get_full_name() or item.assignee.username},
                code="claimed_by_other",
            )
        # Conditional update: exactly one claimant wins even without the row lock (SQLite).
        won = WorkItem.objects.filter(pk=item.pk, assignee__isnull=True, status=WorkItemStatus.OPEN).update(
            assignee=user, claimed_at=now
        )
        if won != 1:
            raise Conflict(_("Il compito è già stato preso in carico da un'altra persona."), code="claimed_by_other")
        item.assignee, item.claimed_at = user, now
        event.case_id = item.case_id
        event.event.object_repr = f"{item.case.number}: {item.name}"[:300]
        event.event.summary = summary_format % {"t": item.name}
        event.write()
        return item

    # The item carries what the claim wrote (assignee, claimed_at): nothing to read again.
    return run_in_transaction(write, what="work item claim")


def work_item_unclaim(*, work_item_id: int, tenant: Tenant, user: User, ip: str | None = None) -> WorkItem:
    roles = roles_for(user=user, tenant=tenant)
    def write() -> WorkItem:
        item = _lock_work_item(work_item_id, tenant)
        _ensure_open(item)
        if item.assignee_id is None:
            return item
        if item.assignee_id != user.pk and Role.SUPERVISOR not in roles:
            raise PermissionRefused(_("Solo chi ha in carico il compito o un responsabile può rilasciarlo."))
        WorkItem.objects.filter(pk=item.pk).update(assignee=None, claimed_at=None)
        audit_record(
            tenant=tenant, actor=user, action="unclaim", object_type="work_item", object_id=str(item.pk), case_id=item.case_id,
            object_repr=f"{item.case.number}: {item.name}", summary=_("Rilasciato «%(t)s»") % {"t": item.name}, ip=ip,
        )
        return item

    item = run_in_transaction(write, what="work item unclaim")
    item.refresh_from_db()
    return item


def work_item_assign(
    *, work_item_id: int, tenant: Tenant, user: User, assignee: User, ip: str | None = None
) -> WorkItem:
    _require_roles(user, tenant, {Role.SUPERVISOR}, _("Solo un responsabile può assegnare i compiti."))
    def write() -> WorkItem:
        item = _lock_work_item(work_item_id, tenant)
        _ensure_open(item)
        target_roles = roles_for(user=assignee, tenant=tenant)
        if item.role not in target_roles:
            raise ValidationFailed(
                _("%(u)s non ha il ruolo «%(r)s» in questo ente.") % {"u": assignee.username, "r": item.role},
                details={"user": [_("Utente senza il ruolo richiesto.")]},
            )
        if item.excluded_username and item.excluded_username == assignee.username:
            raise ValidationFailed(
                _("Regola dei quattro occhi: %(u)s ha svolto il passo precedente.") % {"u": assignee.username},
                details={"user": [_("Non può svolgere questo passo.")]},
            )
        before = item.assignee.username if item.assignee else None
        WorkItem.objects.filter(pk=item.pk).update(assignee=assignee, claimed_at=clock.now())
        audit_record(
            tenant=tenant, actor=user, action="assign", object_type="work_item", object_id=str(item.pk), case_id=item.case_id,
            object_repr=f"{item.case.number}: {item.name}",
            summary=_("Assegnato «%(t)s» a %(u)s") % {"t": item.name, "u": assignee.username},
            before={"assignee": before}, after={"assignee": assignee.username}, ip=ip,
        )
        return item

    item = run_in_transaction(write, what="work item assign")
    item.refresh_from_db()
    return item


def work_item_complete(
    *, work_item_id: int, tenant: Tenant, user: User, data: dict[str, Any], ip: str | None = None
) -> WorkItem:
    roles = roles_for(user=user, tenant=tenant)

    def complete() -> WorkItem:
        # Lock order (engine.locks): one statement reads the work item and its case and locks the
        # case's instance row only (level 1). The item is read, not locked: under the instance lock
        # only a claim or an assignment can still change it (its assignee), and the projection's
        # conditional UPDATE of the completed item re-checks that (exactly one winner); its status
        # and the task's readiness are re-checked by the engine on the state just locked.
        item = statements.work_item_for_completion(work_item_id=work_item_id, tenant=tenant)
        if item is None:
            raise NotFound(_("Compito non trovato."))
        instance = mark_locked(item.case.instance)
        _ensure_open(item)
        _ensure_can_work(item, user, roles)
        if item.assignee_id is not None and item.assignee_id != user.pk:
            raise Conflict(
                _("Il compito è in carico a %(u)s.") % {"u": item.assignee.get_full_name() or item.assignee.username},
                code="claimed_by_other",
            )
        case = item.case
        if item.form:
            errors = validate_data(_form_json(version_by_id(case.process_version_id), item.form), data)
            if errors:
                raise ValidationFailed(_("Il modulo contiene errori."), details={"data": errors})
        # The completion's event is known before the step: the projection's statement carries it.
        completed = audit_prepare(
            tenant=tenant, actor=user, action="complete", object_type="work_item", object_id=str(item.pk), case_id=item.case_id,
            object_repr=f"{case.number}: {item.name}", summary=_("Completato «%(t)s»") % {"t": item.name},
            after=data, ip=ip,
        )
        engine.instance_complete_task(
            instance=instance, task_id=item.task_id, data=data, actor_username=user.username,
            projector=functools.partial(project, audit=completed),
        )
        completed.write()  # nothing when the projection wrote it
        return item

    item = run_in_transaction(complete, what="work item completion")
    # The row was updated by the projection; mirror it instead of reading it again.
    item.status = WorkItemStatus.COMPLETED
    item.completed_at = clock.now()
    item.completed_by = user
    if item.assignee_id == user.pk:
        item.assignee = user  # the caller's response names the assignee: no query for the user we have
    return item


# --------------------------------------------------------------------------- cases


def case_cancel(*, case_id: int, tenant: Tenant, user: User, reason: str, ip: str | None = None) -> Case:
    _require_roles(user, tenant, {Role.SUPERVISOR}, _("Solo un responsabile può annullare una pratica."))
    if not reason.strip():
        raise ValidationFailed(_("Indica il motivo dell'annullamento."), details={"reason": [_("Campo obbligatorio.")]})
    def cancel() -> None:
        # Lock order (engine.locks): the case's instance first; the projection then closes the
        # case row and cancels its open work items under that lock.
        instance = lock_instance(Subquery(Case.objects.filter(pk=case_id, tenant=tenant).values("instance_id")[:1]))
        if instance is None:
            raise NotFound(_("Pratica non trovata."))
        engine.instance_cancel(instance=instance, actor_username=user.username, reason=reason, projector=project)
        audit_record(
            tenant=tenant, actor=user, action="cancel", object_type="case", object_id=str(case_id),
            object_repr=instance.case_number, summary=_("Annullata la pratica: %(r)s") % {"r": reason}, ip=ip,
        )

    run_in_transaction(cancel, what="case cancel")
    return Case.objects.get(pk=case_id)


def case_withdraw(*, case_id: int, tenant: Tenant, user: User, reason: str = "", ip: str | None = None) -> Case:
    """A declarant withdraws their own request while it is open, where the procedure allows it
    (manifest `portal.withdrawal`): the case is cancelled with their reason, like a cancellation
    by the office, and the audit names the citizen."""
    roles = roles_for(user=user, tenant=tenant)
    own = (user.fiscal_code or "").upper()
    if Role.CITIZEN not in roles or not own:
        raise PermissionRefused(_("Solo chi ha presentato la domanda può ritirarla."), code="withdrawal_not_allowed")
    case = Case.objects.filter(pk=case_id, tenant=tenant, subject_rows__fiscal_code=own).first()
    if case is None:
        raise NotFound(_("Pratica non trovata."))
    if not manifest_of(version_by_id(case.process_version_id)).portal.withdrawal:
        raise PermissionRefused(_("Questo procedimento non prevede il ritiro online della domanda."),
                                code="withdrawal_not_allowed")
    if case.status != CaseStatus.OPEN:
        raise Conflict(_("La pratica è già conclusa."), code="already_closed")
    reason = " ".join((reason or "").split())[:500] or _("Ritirata dal richiedente")

    def withdraw() -> None:
        instance = lock_instance(Subquery(Case.objects.filter(pk=case_id, tenant=tenant).values("instance_id")[:1]))
        if instance is None:
            raise NotFound(_("Pratica non trovata."))
        engine.instance_cancel(instance=instance, actor_username=user.username,
                               reason=_("Ritirata dal richiedente: %(r)s") % {"r": reason}, projector=project)
        audit_record(
            tenant=tenant, actor=user, action="cancel", object_type="case", object_id=str(case_id),
            object_repr=instance.case_number, summary=_("Domanda ritirata dal richiedente: %(r)s") % {"r": reason},
            ip=ip,
        )

    run_in_transaction(withdraw, what="case withdrawal")
    return Case.objects.get(pk=case_id)


def comment_add(*, case: Case, user: User, text: str, ip: str | None = None) -> Comment:
    roles = roles_for(user=user, tenant=case.tenant)
    if not roles or roles <= {Role.VIEWER, Role.CITIZEN}:
        raise PermissionRefused(_("Il tuo ruolo non consente di aggiungere note."))
    text = (text or "").strip()
    if not text:
        raise ValidationFailed(_("La nota è vuota."), details={"text": [_("Campo obbligatorio.")]})
    if len(text) > 10000:
        raise ValidationFailed(_("La nota è troppo lunga."), details={"text": [_("Massimo 10000 caratteri.")]})
    with transaction.atomic():
        comment = Comment.objects.create(tenant=case.tenant, case=case, author=user, text=text, created_at=clock.now())
        audit_record(
            tenant=case.tenant, actor=user, action="create", object_type="comment", object_id=str(comment.pk),
            object_repr=case.number, summary=_("Nota aggiunta alla pratica"), ip=ip,
        )
    return comment


def case_message_deliver(
    *, case: Case, user: User, message: str, payload: Any, ip: str | None = None
) -> int:
    """A person delivers an external event (e.g. the citizen's observations) to their case.

    Only the messages the procedure's manifest lists under `messages`, and only by the roles
    listed there: a payment confirmation (pagoPA) or an ANPR event is delivered by the system
    alone (cases.tasks), never by a person claiming it happened. A citizen delivers only to a
    case they are a subject of; a message declared `by: starter` only the person who started the
    case delivers.
    """
    tenant = case.tenant
    roles = roles_for(user=user, tenant=tenant)
    allowed = manifest_of(version_by_id(case.process_version_id)).message_roles(message)
    held = roles & allowed
    if held == {Role.CITIZEN} and not CaseSubject.objects.filter(
        case=case, fiscal_code=(user.fiscal_code or "").upper()
    ).exists():
        held = frozenset()
    manifest = manifest_of(version_by_id(case.process_version_id))
    if held and manifest.message_by_starter_only(message) and case.created_by_id != user.pk:
        # e.g. only the reporter confirms or reopens their own malfunction ticket
        raise PermissionRefused(
            _("Solo chi ha avviato la pratica può consegnare il messaggio «%(m)s».") % {"m": message[:100]},
            code="message_not_allowed",
        )
    if not held:
        raise PermissionRefused(
            _("Non puoi consegnare il messaggio «%(m)s» a questa pratica.") % {"m": message[:100]},
            code="message_not_allowed",
        )
    try:
        caught = engine.deliver_message(
            tenant=tenant, name=message, correlation_key=case.number, payload=payload, projector=project,
            accept_if=manifest.message_guard(message),
        )
    except Conflict as exc:
        if exc.code == "message_not_correlated":
            logger.warning("message %s refused by case %s: it does not correlate", message, case.number)
            message_refused_event(tenant=tenant, user=user, message=message, correlation_key=case.number,
                                  payload=payload, reason=exc.code, ip=ip)
        raise
    if caught == 0:
        raise Conflict(
            _("Nessuna pratica è in attesa del messaggio «%(m)s» per %(k)s.") % {"m": message, "k": case.number},
            code="no_waiting_case",
        )
    message_delivered_event(tenant=tenant, user=user, message=message, correlation_key=case.number,
                            payload=payload, caught=caught, ip=ip)
    return caught


# --------------------------------------------------------------------------- bulk assignment


@dataclass
class BulkAssignOutcome:
    work_item_id: int
    label: str  # "2026/000012 «Controllo»"
    assigned: bool
    message: str = ""


# One inbox page holds 25 items; anything far beyond that is not a person clicking.
BULK_ASSIGN_LIMIT = 100


def work_items_assign_bulk(
    *, tenant: Tenant, user: User, assignee_id: int | None, work_item_ids: list[int], ip: str | None = None
) -> list[BulkAssignOutcome]:
    """Assign each task on its own (one transaction and one audit event per task); report each one."""
    _require_roles(user, tenant, {Role.SUPERVISOR}, _("Solo un responsabile può assegnare i compiti."))
    ids = list(dict.fromkeys(work_item_ids))
    if not ids:
        raise ValidationFailed(_("Seleziona almeno un compito."), details={"items": [_("Seleziona almeno un compito.")]})
    if len(ids) > BULK_ASSIGN_LIMIT:
        raise ValidationFailed(
            _("Puoi assegnare al massimo %(n)s compiti alla volta.") % {"n": BULK_ASSIGN_LIMIT},
            details={"items": [_("Troppi compiti selezionati.")]},
        )
    assignee = (
        User.objects.filter(pk=assignee_id, memberships__tenant=tenant, memberships__is_active=True).first()
        if assignee_id is not None else None
    )
    if assignee is None:
        raise ValidationFailed(_("Scegli un utente di questo ente."), details={"user": [_("Scegli un utente.")]})
    labels = {
        pk: f"{number} «{name}»"
        for pk, number, name in WorkItem.objects.filter(tenant=tenant, pk__in=ids).values_list("pk", "case__number", "name")
    }
    outcomes = []
    for pk in ids:
        label = labels.get(pk, f"#{pk}")
        try:
            work_item_assign(work_item_id=pk, tenant=tenant, user=user, assignee=assignee, ip=ip)
        except NotFound:
            outcomes.append(BulkAssignOutcome(pk, label, False, _("Compito non trovato.")))
        except (Conflict, ValidationFailed, PermissionRefused) as exc:
            outcomes.append(BulkAssignOutcome(pk, label, False, exc.message))
        else:
            outcomes.append(BulkAssignOutcome(pk, label, True))
    return outcomes


# --------------------------------------------------------------------------- incidents


def incident_retry(*, tenant: Tenant, user: User, incident_id: int, ip: str | None = None) -> str:
    """Retry what failed in a case (through the engine), on behalf of a supervisor or process admin.

    Returns `queued` (a service call will be made again by a worker), `recovered` (the case
    moved on) or `failed_again` (the step failed once more: a new incident is open).
    """
    from accounts.roles import ADMIN_ROLES
    from engine.models import Incident

    _require_roles(user, tenant, ADMIN_ROLES, _("Solo un responsabile o un amministratore può riprovare."))

    def retry() -> str:
        incident = Incident.objects.for_tenant(tenant).select_related("instance").filter(pk=incident_id).first()
        if incident is None:
            raise NotFound(_("Incidente non trovato."))
        engine.incident_retry(
            incident_id=incident.pk, tenant=tenant, actor_username=user.username, projector=project
        )
        Incident.objects.filter(pk=incident.pk).update(resolved_by=user)
        instance = incident.instance
        if incident.outbox_id:
            outcome = "queued"
        elif Incident.objects.filter(instance=instance, status=IncidentStatus.OPEN).exists():
            outcome = "failed_again"
        else:
            outcome = "recovered"
        audit_record(
            tenant=tenant, actor=user, action="update",
            object_type="case" if instance.case_id else "incident",
            object_id=str(instance.case_id or incident.pk), object_repr=instance.case_number,
            summary=_("Nuovo tentativo dopo l'incidente: %(m)s") % {"m": incident.message[:200]},
            extra={"incident": incident.pk, "kind": incident.kind, "outcome": outcome}, ip=ip,
        )
        return outcome

    return run_in_transaction(retry, what="incident retry")


SEND_BACK_REASON_MIN = 10


def incident_send_back(*, tenant: Tenant, user: User, incident_id: int, target: str, reason: str,
                       ip: str | None = None) -> str:
    """Send a case whose step failed on its data back to the task that produced the data (issue 10,
    "Repairable incidents"), on behalf of a supervisor or process admin, with the reason audited.
    Returns the BPMN id of the task opened again (see engine.services.incident_send_back)."""
    from accounts.roles import ADMIN_ROLES
    from engine.models import Incident

    _require_roles(user, tenant, ADMIN_ROLES,
                   _("Solo un responsabile o un amministratore può rimandare la pratica a un compito."))
    reason = " ".join(str(reason or "").split())
    if len(reason) < SEND_BACK_REASON_MIN:
        raise ValidationFailed(_("Indica il motivo (almeno %(n)s caratteri): resta nella storia della pratica.")
                               % {"n": SEND_BACK_REASON_MIN}, details={"reason": [_("Campo obbligatorio.")]})

    def send_back() -> str:
        incident = Incident.objects.for_tenant(tenant).select_related("instance").filter(pk=incident_id).first()
        if incident is None:
            raise NotFound(_("Incidente non trovato."))
        result = engine.incident_send_back(incident_id=incident.pk, tenant=tenant, actor_username=user.username,
                                           target=str(target), reason=reason, projector=project)
        Incident.objects.filter(pk=incident.pk).update(resolved_by=user)
        instance = incident.instance
        opened = next((t.name for t in result.ready_tasks if t.bpmn_id == target), target)
        audit_record(
            tenant=tenant, actor=user, action="update",
            object_type="case" if instance.case_id else "incident",
            object_id=str(instance.case_id or incident.pk), object_repr=instance.case_number,
            summary=_("Pratica rimandata a «%(task)s» per correggere i dati: %(reason)s")
            % {"task": opened, "reason": reason[:300]},
            before={"failed_step": incident.task_bpmn_id, "incident": incident.message[:500]},
            after={"task": target}, extra={"incident": incident.pk, "reason": reason}, ip=ip,
        )
        return target

    return run_in_transaction(send_back, what="incident send-back")


# --------------------------------------------------------------------------- saved inbox filters


def _saved_filter_owned(tenant: Tenant, user: User, filter_id: int):
    from .models import SavedFilter
    from .selectors import saved_filters_for

    saved = SavedFilter.objects.select_for_update().filter(pk=filter_id, tenant=tenant).first()
    if saved is None:
        raise NotFound(_("Filtro non trovato."))
    if saved.owner_id != user.pk:
        if any(f.pk == saved.pk for f in saved_filters_for(tenant=tenant, user=user)):
            raise PermissionRefused(_("Solo chi ha creato il filtro può modificarlo o eliminarlo."))
        raise NotFound(_("Filtro non trovato."))
    return saved


def _saved_filter_name(name: str) -> str:
    name = " ".join((name or "").split())
    if not name:
        raise ValidationFailed(_("Dai un nome al filtro."), details={"name": [_("Campo obbligatorio.")]})
    if len(name) > 80:
        raise ValidationFailed(_("Il nome è troppo lungo."), details={"name": [_("Al massimo 80 caratteri.")]})
    return name


def _saved_filter_audit(saved, user: User, action: str, summary: str, ip: str | None, **kw: Any) -> None:
    audit_record(
        tenant=saved.tenant, actor=user, action=action, object_type="saved_filter", object_id=str(saved.pk),
        object_repr=saved.name, summary=summary, ip=ip, **kw,
    )


def saved_filter_create(
    *, tenant: Tenant, user: User, name: str, params: Any, shared: bool = False, ip: str | None = None
):
    from .models import SavedFilter
    from .selectors import inbox_filter_query

    if not roles_for(user=user, tenant=tenant) - {Role.CITIZEN}:
        raise PermissionRefused(_("Il tuo ruolo non consente questa operazione."))
    name = _saved_filter_name(name)
    query = inbox_filter_query(params)
    now = clock.now()
    try:
        with transaction.atomic():
            saved = SavedFilter.objects.create(
                tenant=tenant, owner=user, name=name, query=query, shared=bool(shared), created_at=now, updated_at=now
            )
            _saved_filter_audit(saved, user, "create", _("Salvato il filtro «%(n)s»") % {"n": name}, ip,
                                after={"query": query, "shared": saved.shared})
    except IntegrityError as exc:
        raise ValidationFailed(
            _("Hai già un filtro con questo nome."), details={"name": [_("Hai già un filtro con questo nome.")]}
        ) from exc
    return saved


def saved_filter_update(
    *, tenant: Tenant, user: User, filter_id: int, name: str | None = None, shared: bool | None = None,
    ip: str | None = None,
):
    """Rename and/or share/unshare one of the user's own filters."""
    try:
        with transaction.atomic():
            saved = _saved_filter_owned(tenant, user, filter_id)
            before = {"name": saved.name, "shared": saved.shared}
            if name is not None:
                saved.name = _saved_filter_name(name)
            if shared is not None:
                saved.shared = bool(shared)
            after = {"name": saved.name, "shared": saved.shared}
            if after == before:
                return saved
            saved.updated_at = clock.now()
            saved.save(update_fields=["name", "shared", "updated_at"])
            _saved_filter_audit(saved, user, "update", _("Modificato il filtro «%(n)s»") % {"n": saved.name}, ip,
                                before=before, after=after)
    except IntegrityError as exc:
        raise ValidationFailed(
            _("Hai già un filtro con questo nome."), details={"name": [_("Hai già un filtro con questo nome.")]}
        ) from exc
    return saved


def saved_filter_delete(*, tenant: Tenant, user: User, filter_id: int, ip: str | None = None) -> None:
    with transaction.atomic():
        saved = _saved_filter_owned(tenant, user, filter_id)
        _saved_filter_audit(saved, user, "delete", _("Eliminato il filtro «%(n)s»") % {"n": saved.name}, ip,
                            before={"query": saved.query, "shared": saved.shared})
        saved.delete()
