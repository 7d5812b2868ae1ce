from __future__ import annotations

import time
from collections.abc import Callable

from django.conf import settings
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


class SecondFactorMiddleware:
    """A signed-in user who has a second factor must verify it in this session; a process administrator
    without one must enrol. Until then every page redirects to verification/enrolment and the API
    (session authentication) answers 403 `second_factor_required`. Token-authenticated API calls are
    checked by accounts.authentication (DRF authenticates after middleware)."""

    ALLOWED_PREFIXES = ("/sicurezza/", "/accedi/", "/esci/", "/i18n/", "/static/")

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        if (user is None or not user.is_authenticated or request.path.startswith(self.ALLOWED_PREFIXES)
                or user.is_verified()):
            return self.get_response(request)
        from .tenancy import second_factor_state_for_request

        has_device, required = second_factor_state_for_request(request, user)
        if not has_device and not required:
            return self.get_response(request)
        if request.path.startswith("/api/"):
            from django.http import JsonResponse
            from django.utils.translation import gettext as _

            message = (_("Verifica il codice dell'app di autenticazione prima di continuare.") if has_device else
                       _("Il tuo ruolo richiede l'autenticazione a due fattori: attivala dalla pagina «Sicurezza»."))
            return JsonResponse({"error": {"code": "second_factor_required", "message": message, "fields": {}}},
                                status=403)
        from django.shortcuts import redirect
        from django.urls import reverse
        from django.utils.http import urlencode

        target = "two_factor_verify" if has_device else "two_factor_setup"
        return redirect(f"{reverse(target)}?{urlencode({'next': request.get_full_path()})}")


RENEWED_KEY = "_procedo_renewed"


def session_remaining_seconds(request: HttpRequest) -> int:
    """Seconds until the idle session expires, counted from its last renewal (SessionRenewalMiddleware)."""
    renewed = request.session.get(RENEWED_KEY) if hasattr(request, "session") else None
    if not isinstance(renewed, int):
        return settings.SESSION_COOKIE_AGE
    return max(0, settings.SESSION_COOKIE_AGE - (int(time.time()) - renewed))


class SessionRenewalMiddleware:
    """The idle timeout (SESSION_COOKIE_AGE) renewed by activity, at most once every
    PROCEDO_SESSION_RENEW_SECONDS instead of a session write on every request (each one an UPDATE
    and a durable COMMIT, on every page view). A signed-in session whose last renewal is older is
    marked modified before the view runs, so Django's SessionMiddleware saves it with a new expiry
    and cookie; `session_remaining_seconds` tells the pages how long is left. The keepalive view
    renews unconditionally (`renew_session`)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        session = getattr(request, "session", None)
        if session is not None and session.session_key and not session.is_empty():
            renewed = session.get(RENEWED_KEY)
            now = int(time.time())
            if not isinstance(renewed, int) or now - renewed >= settings.PROCEDO_SESSION_RENEW_SECONDS:
                session[RENEWED_KEY] = now
        return self.get_response(request)


def renew_session(request: HttpRequest) -> None:
    request.session[RENEWED_KEY] = int(time.time())
