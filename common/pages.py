"""Small helpers shared by the server-rendered pages of every app."""

from __future__ import annotations

from typing import Any

from django.http import Http404, HttpRequest
from django.utils.translation import gettext as _


def int_or_404(value: Any) -> int:
    """A path or form id as an int; anything else is a page that does not exist."""
    try:
        return int(value)
    except (TypeError, ValueError) as exc:
        raise Http404 from exc


def page_tenant(request: HttpRequest):
    """The municipality a page works for (set by accounts.middleware.TenantMiddleware); 404 without one."""
    tenant = getattr(request, "tenant", None)
    if not tenant:
        raise Http404(_("Nessun ente disponibile per questo utente."))
    return tenant
