"""Tenant scoping for the REST API: the one place where it happens.

Every API view that touches tenant data inherits `TenantScopedMixin`:
- `initial()` resolves `request.tenant` after DRF authentication (token or session);
  an authenticated user with no membership in the requested tenant gets 404 on
  everything, never 403, so the existence of other tenants' objects never leaks;
- `get_queryset()` filters `self.queryset` (or `base_queryset()`) by the tenant;
- `require_role(*roles)` raises 403 when the user holds none of them in the tenant.
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.utils.translation import gettext as _
from rest_framework.exceptions import NotFound, PermissionDenied
from rest_framework.request import Request

from .models import Tenant
from .selectors import roles_for
from .tenancy import resolve_tenant


class TenantScopedMixin:
    request: Request
    tenant_field = "tenant"

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)  # type: ignore[misc]  # authenticates
        tenant = resolve_tenant(request._request, request.user)
        request.tenant = tenant  # type: ignore[attr-defined]
        request._request.tenant = tenant  # type: ignore[attr-defined]
        if tenant is None:
            raise NotFound(_("Nessun ente disponibile per questo utente."))

    @property
    def tenant(self) -> Tenant:
        return self.request.tenant  # type: ignore[attr-defined]

    @property
    def roles(self) -> frozenset[str]:
        return roles_for(user=self.request.user, tenant=self.tenant)  # type: ignore[arg-type]

    def require_role(self, *roles: str) -> None:
        if not self.roles.intersection(roles):
            raise PermissionDenied(_("Il tuo ruolo non consente questa operazione."))

    def base_queryset(self) -> QuerySet:
        return self.queryset.all()  # type: ignore[attr-defined]

    def get_queryset(self) -> QuerySet:
        return self.base_queryset().filter(**{self.tenant_field: self.tenant})
