from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.utils.functional import SimpleLazyObject

from .tenancy import resolve_tenant


class TenantMiddleware:
    """Sets `request.tenant` for session-authenticated requests (lazily).

    Token-authenticated API requests are resolved again by the API base view,
    because DRF authenticates after middleware runs.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request.tenant = SimpleLazyObject(lambda: resolve_tenant(request, getattr(request, "user", None)))  # type: ignore[attr-defined]
        return self.get_response(request)
