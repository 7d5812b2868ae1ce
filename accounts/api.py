"""Tenant scoping for the REST API: the one place where it happens.

Every API view that touches tenant data inherits `TenantScopedMixin`:
- `initial()` resolves `request.tenant` after DRF authentication (token or session);
  an authenticated user with no membership in the requested tenant gets 404 on
  everything, never 403, so the existence of other tenants' objects never leaks;
- `get_queryset()` filters `self.queryset` (or `base_queryset()`) by the tenant;
- `require_role(*roles)` raises 403 when the user holds none of them in the tenant;
- a mutating call (POST, PUT, PATCH, DELETE) with an `Idempotency-Key` header runs in one transaction
  with its idempotency record, and a repeat gets the first answer back (accounts/idempotency.py).
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest
from django.http.response import HttpResponseBase
from django.utils.translation import gettext as _
from rest_framework.exceptions import NotFound, PermissionDenied
from rest_framework.request import Request

from . import idempotency
from .models import Tenant
from .selectors import roles_for
from .tenancy import resolve_tenant


class TenantScopedMixin:
    request: Request
    tenant_field = "tenant"

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if not idempotency.wanted(request):
            return super().dispatch(request, *args, **kwargs)  # type: ignore[misc]
        # Read the body before DRF parses it; the whole call, record included, is one transaction.
        request.idempotency_fingerprint = idempotency.fingerprint(request)  # type: ignore[attr-defined]
        with transaction.atomic():
            return super().dispatch(request, *args, **kwargs)  # type: ignore[misc]

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)  # type: ignore[misc]  # authenticates
        tenant = resolve_tenant(request._request, request.user)
        request.tenant = tenant  # type: ignore[attr-defined]
        request._request.tenant = tenant  # type: ignore[attr-defined]
        if tenant is None:
            raise NotFound(_("Nessun ente disponibile per questo utente."))
        fingerprint = getattr(request._request, "idempotency_fingerprint", None)
        if fingerprint is not None:
            request._request.idempotency_record = idempotency.claim(  # type: ignore[attr-defined]
                request=request._request, tenant=tenant, user=request.user, fingerprint_hex=fingerprint,
            )

    def handle_exception(self, exc: Exception) -> HttpResponseBase:
        if isinstance(exc, idempotency.Replay):
            return exc.response
        return super().handle_exception(exc)  # type: ignore[misc]

    def finalize_response(self, request: Request, response: HttpResponseBase, *args: Any, **kwargs: Any) -> HttpResponseBase:
        response = super().finalize_response(request, response, *args, **kwargs)  # type: ignore[misc]
        record = getattr(request._request, "idempotency_record", None) if isinstance(request, Request) else None
        if record is not None:
            idempotency.settle(record, response)
        return response

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
