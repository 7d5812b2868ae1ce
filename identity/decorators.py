"""`require_loa("SpidL2")`: a page that needs a minimum level of assurance from the digital identity."""

from __future__ import annotations

import functools
import urllib.parse
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse

from .levels import level_at_least, level_number
from .services import SESSION_LOA


def session_level(request: HttpRequest) -> str | None:
    return request.session.get(SESSION_LOA) if hasattr(request, "session") else None


def require_loa(level: str) -> Callable:
    level_number(level)  # fail at import on a typo

    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @functools.wraps(view)
        def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            if not (request.user.is_authenticated and level_at_least(session_level(request), level)):
                query = urllib.parse.urlencode({"livello": level, "next": request.get_full_path()})
                return redirect(f"{reverse('identity:choose')}?{query}")
            return view(request, *args, **kwargs)

        return wrapped

    return decorator
