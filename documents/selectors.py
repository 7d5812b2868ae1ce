"""Reads: documents of a case, a person's dossier, a document by verification code."""

from __future__ import annotations

from django.db.models import QuerySet

from accounts.models import Tenant, User
from accounts.roles import OFFICE_ROLES, STAFF_ROLES, Role
from accounts.selectors import roles_for
from common.errors import NotFound, PermissionRefused

from .models import Document, DossierEntry


def _is_citizen_only(user: User, tenant: Tenant) -> bool:
    roles = roles_for(user=user, tenant=tenant)
    if roles & STAFF_ROLES:
        return False
    if Role.CITIZEN in roles:
        return True
    raise NotFound("no role in tenant")


def document_list_for_case(*, tenant: Tenant, user: User, case_id: int, case=None) -> QuerySet[Document]:
    """`case`: the case `case_id` as the caller already got it through cases.selectors.case_get for this
    tenant and user (the case page); otherwise it is fetched here, which checks it is visible."""
    from cases.selectors import case_get

    if case is None or case.pk != case_id or case.tenant_id != tenant.pk:
        case = case_get(tenant=tenant, user=user, case_id=case_id)  # raises NotFound when not visible
    qs = Document.objects.filter(tenant=tenant, case=case)
    if _is_citizen_only(user, tenant):
        qs = qs.filter(dossier_entries__fiscal_code=(user.fiscal_code or "").upper()).distinct()
    return qs


def document_get(*, tenant: Tenant, user: User, document_id: int) -> Document:
    doc = Document.objects.filter(tenant=tenant, pk=document_id).first()
    if doc is None:
        raise NotFound("document not found")
    if _is_citizen_only(user, tenant) and not doc.dossier_entries.filter(
        fiscal_code=(user.fiscal_code or "").upper()
    ).exists():
        raise NotFound("document not found")
    return doc


def dossier_list(*, tenant: Tenant, user: User, fiscal_code: str) -> QuerySet[DossierEntry]:
    fiscal_code = fiscal_code.strip().upper()
    roles = roles_for(user=user, tenant=tenant)
    if Role.SUPPORT in roles and not roles & OFFICE_ROLES and Role.CITIZEN not in roles:
        raise PermissionRefused("the support team reads tickets, not dossiers")
    if _is_citizen_only(user, tenant) and (user.fiscal_code or "").upper() != fiscal_code:
        raise PermissionRefused("not your dossier")
    return DossierEntry.objects.filter(tenant=tenant, fiscal_code=fiscal_code).select_related("document")


def document_by_code(*, code: str) -> Document | None:
    return Document.objects.select_related("tenant").filter(verification_code=code).first()
