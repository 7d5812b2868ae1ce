"""Which tenant a request acts for. The single place where that is decided.

A user of one tenant gets it; a user of several picks one: API clients with the
`X-Procedo-Tenant` header (ISTAT code or slug), browser sessions with the tenant
switcher (stored in the session). A request naming a tenant the user does not
belong to gets no tenant at all, so everything tenant-scoped is then empty/404.
"""

from __future__ import annotations

from django.db.models import Q
from django.http import HttpRequest

from .models import Tenant, User

SESSION_KEY = "procedo_tenant_id"
HEADER = "HTTP_X_PROCEDO_TENANT"


def resolve_tenant(request: HttpRequest, user: User | None) -> Tenant | None:
    if user is None or not user.is_authenticated:
        return None
    memberships = Tenant.objects.filter(memberships__user=user, is_active=True).distinct()
    wanted = request.META.get(HEADER)
    if wanted:
        return memberships.filter(Q(istat_code=wanted) | Q(slug=wanted)).first()
    session = getattr(request, "session", None)
    if session is not None and session.get(SESSION_KEY):
        tenant = memberships.filter(pk=session[SESSION_KEY]).first()
        if tenant is not None:
            return tenant
    return memberships.order_by("name").first()
