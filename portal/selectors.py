"""Reads of the citizen area. Every query is narrowed to the citizen's own fiscal code in the
request's tenant: another person's case, document, payment or certificate request is NotFound,
exactly like one that does not exist."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.db.models import QuerySet
from lxml import etree

from accounts.models import Tenant, User
from accounts.roles import Role
from accounts.selectors import roles_for
from cases.models import Case, CaseSubject
from common.errors import NotFound, PermissionRefused

from .models import CaseReply, CertificateRequest, Submission


def own_fiscal_code(*, tenant: Tenant, user: User) -> str:
    if not user.is_authenticated or Role.CITIZEN not in roles_for(user=user, tenant=tenant) or not user.fiscal_code:
        raise PermissionRefused("citizens only", code="citizens_only")
    return user.fiscal_code.upper()


# --------------------------------------------------------------------------- catalogue


@dataclass
class Service:
    process_id: str
    name: str
    description: str
    category: str
    audience: str
    documents: list[tuple[str, str]] = field(default_factory=list)  # (document, when it is needed)
    fees: str = ""
    legal_deadline: str = ""
    withdrawal: bool = False
    startable: bool = False


def catalogue(*, tenant: Tenant, user: User | None = None) -> list[Service]:
    """The procedures a citizen files online (`channel: portal`), newest published versions."""
    from django.utils.translation import gettext as _
    from django.utils.translation import ngettext

    from cases.services import case_startable
    from engine.bundles import version_files
    from engine.manifest import manifest_of
    from engine.models import ProcessDefinition
    from engine.selectors import process_latest_version

    services = []
    for definition in ProcessDefinition.objects.order_by("name"):
        try:
            version = process_latest_version(process_id=definition.process_id)
        except NotFound:
            continue
        manifest = manifest_of(version)
        if "portal" not in manifest.channels or not manifest.start_form:
            continue
        deadline = ""
        if manifest.legal_deadline:
            days = manifest.legal_deadline.days
            deadline = (ngettext("%(n)s giorno lavorativo", "%(n)s giorni lavorativi", days)
                        if manifest.legal_deadline.kind == "working"
                        else ngettext("%(n)s giorno", "%(n)s giorni", days)) % {"n": days}
        documents = dmn_documents(version_files(version)) or [(d, "") for d in manifest.portal.documents]
        services.append(Service(
            process_id=definition.process_id, name=manifest.name, description=manifest.description,
            category=manifest.category, audience=manifest.portal.audience or _("Cittadini per sé stessi."),
            documents=documents, fees=manifest.portal.fees, legal_deadline=deadline,
            withdrawal=manifest.portal.withdrawal,
            startable=bool(user and user.is_authenticated and case_startable(tenant=tenant, user=user, version=version)),
        ))
    return services


def service_get(*, tenant: Tenant, user: User | None, process_id: str) -> Service:
    for service in catalogue(tenant=tenant, user=user):
        if service.process_id == process_id:
            return service
    raise NotFound("no such online service")


DMN_NS = "{https://www.omg.org/spec/DMN/20191111/MODEL/}"


def dmn_documents(files: dict[str, str]) -> list[tuple[str, str]]:
    """The documents a procedure asks for, from its required-documents decision table
    (`required_documents.dmn`, COLLECT): each rule's description output and, for a conditional rule,
    the conditions it depends on in the inputs' own words."""
    text = files.get("required_documents.dmn")
    if not text:
        return []
    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)
    try:
        root = etree.fromstring(text.encode(), parser)
    except etree.XMLSyntaxError:
        return []
    found = []
    for table in root.iter(f"{DMN_NS}decisionTable"):
        inputs = [i.get("label") or "" for i in table.findall(f"{DMN_NS}input")]
        outputs = table.findall(f"{DMN_NS}output")
        label_index = next((i for i, o in enumerate(outputs) if "label" in (o.get("name") or "")), len(outputs) - 1)
        for rule in table.findall(f"{DMN_NS}rule"):
            entries = [(e.findtext(f"{DMN_NS}text") or "").strip() for e in rule.findall(f"{DMN_NS}inputEntry")]
            values = [(e.findtext(f"{DMN_NS}text") or "").strip() for e in rule.findall(f"{DMN_NS}outputEntry")]
            if not values or label_index >= len(values):
                continue
            document = values[label_index].strip('"')
            conditions = [label for label, entry in zip(inputs, entries, strict=False) if entry and entry != "-"]
            found.append((document, "; ".join(conditions)))
    return found


# --------------------------------------------------------------------------- cases


def my_cases(*, tenant: Tenant, user: User) -> QuerySet[Case]:
    own = own_fiscal_code(tenant=tenant, user=user)
    return (Case.objects.filter(tenant=tenant, pk__in=CaseSubject.objects.filter(tenant=tenant, fiscal_code=own)
                                .values("case_id"))
            .only("pk", "number", "title", "status", "outcome", "opened_at", "closed_at", "legal_due_date",
                  "process_version_id")
            .order_by("-opened_at", "-id"))


def my_case(*, tenant: Tenant, user: User, case_id: int) -> Case:
    own = own_fiscal_code(tenant=tenant, user=user)
    case = Case.objects.filter(tenant=tenant, pk=case_id, subject_rows__fiscal_code=own).first()
    if case is None:
        raise NotFound("case not found")
    case.tenant = tenant  # the row was filtered by it: no second query for case.tenant
    return case


def case_portal_view(*, case: Case, user: User) -> dict[str, Any]:
    """The public view of the case (cases.selectors.case_public_view: milestones, documents for
    them, notices, what they submitted) plus what the citizen area adds: the submission's protocol
    and receipt, the answers they sent, the answers the case is waiting for, withdrawal."""
    from cases.selectors import case_public_view
    from engine.bundles import version_by_id
    from engine.manifest import manifest_of
    from engine.selectors import instance_waiting_messages_by_id

    view = case_public_view(case=case, user=user)
    manifest = manifest_of(version_by_id(case.process_version_id))
    waiting: list[str] = []
    if case.status == "open" and case.instance_id:
        citizen_messages = {m for m, roles in manifest.messages.items() if Role.CITIZEN in roles}
        if citizen_messages:
            waiting = sorted(citizen_messages & instance_waiting_messages_by_id(
                instance_id=case.instance_id, tenant=case.tenant_id))
    view["submission"] = Submission.objects.filter(case=case).select_related("receipt").first()
    view["replies"] = list(CaseReply.objects.filter(case=case, user=user))
    view["waiting_messages"] = waiting
    view["can_withdraw"] = case.status == "open" and manifest.portal.withdrawal
    return view


# --------------------------------------------------------------------------- documents


def my_documents(*, tenant: Tenant, user: User):
    """Every document filed in the citizen's dossier in this municipality (deeds, receipts, certificates,
    their own uploads), newest first."""
    from documents.models import DossierEntry

    own = own_fiscal_code(tenant=tenant, user=user)
    return (DossierEntry.objects.filter(tenant=tenant, fiscal_code=own)
            .select_related("document", "case").order_by("-date", "-id"))


def my_document(*, tenant: Tenant, user: User, document_id: int):
    from documents.models import Document

    own = own_fiscal_code(tenant=tenant, user=user)
    doc = Document.objects.filter(tenant=tenant, pk=document_id, dossier_entries__fiscal_code=own).first()
    if doc is None:
        raise NotFound("document not found")
    return doc


# --------------------------------------------------------------------------- payments


def my_positions(*, tenant: Tenant, user: User):
    from connectors.pagopa.models import DebtPosition

    own = own_fiscal_code(tenant=tenant, user=user)
    return DebtPosition.objects.filter(tenant=tenant, debtor_fiscal_code=own).exclude(status="NEW").order_by("-created_at")


def position_get(*, tenant: Tenant, user: User, position_id: int):
    position = my_positions(tenant=tenant, user=user).filter(pk=position_id).first()
    if position is None:
        raise NotFound("payment not found")
    return position


def position_due_date(position) -> Any:
    """The due date the notice carries (GPD's default, 30 days, for positions made before it was kept)."""
    import datetime as dt

    if position.due_date:
        return position.due_date
    return (position.created_at + dt.timedelta(days=30)).date() if position.created_at else None


# --------------------------------------------------------------------------- certificates


def my_certificate_requests(*, tenant: Tenant, user: User) -> QuerySet[CertificateRequest]:
    own_fiscal_code(tenant=tenant, user=user)
    return CertificateRequest.objects.filter(tenant=tenant, user=user).select_related("person", "position", "document")


def certificate_request_get(*, tenant: Tenant, user: User, request_id: int) -> CertificateRequest:
    request = my_certificate_requests(tenant=tenant, user=user).filter(pk=request_id).first()
    if request is None:
        raise NotFound("certificate request not found")
    return request
