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


class PasswordChangeRequiredMiddleware:
    """A user holding a one-time password (set by an administrator) must choose their own first.

    Every page but the password change itself, logout and the language switch redirects
    there. The REST API is left alone: it answers machines, not people at a screen.
    """

    ALLOWED_PREFIXES = ("/password/", "/esci/", "/i18n/", "/static/", "/api/", "/sessione/")

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        if (
            user is not None
            and user.is_authenticated
            and getattr(user, "must_change_password", False)
            and not request.path.startswith(self.ALLOWED_PREFIXES)
        ):
            from django.shortcuts import redirect

            return redirect("password_change")
        return self.get_response(request)
