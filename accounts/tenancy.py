"""Which tenant a request acts for. The single place where that is decided.

A user of one tenant gets it; a user of several picks one: API clients with the
`X-Procedo-Tenant` header (ISTAT code or slug), browser sessions with the tenant
switcher (stored in the session). A request naming a tenant the user does not
belong to gets no tenant at all, so everything tenant-scoped is then empty/404.
"""

from __future__ import annotations

from django.http import HttpRequest

from .models import Membership, Tenant, User

SESSION_KEY = "procedo_tenant_id"
HEADER = "HTTP_X_PROCEDO_TENANT"


def resolve_tenant(request: HttpRequest, user: User | None) -> Tenant | None:
    if user is None or not user.is_authenticated:
        return None
    # One query gives the user's tenants and roles; the roles are cached on the user
    # object for this request (accounts.selectors.roles_for reads that cache).
    by_tenant: dict[int, tuple[Tenant, set[str]]] = {}
    for membership in Membership.objects.filter(user=user, is_active=True, tenant__is_active=True).select_related("tenant").defer("tenant__coat_of_arms"):
        entry = by_tenant.setdefault(membership.tenant_id, (membership.tenant, set()))
        entry[1].add(membership.role)
    cache = user.__dict__.setdefault("_procedo_roles", {})
    for tenant_id, (_tenant, roles) in by_tenant.items():
        cache[tenant_id] = frozenset(roles)
    tenants = sorted((t for t, _ in by_tenant.values()), key=lambda t: t.name)
    wanted = request.META.get(HEADER)
    if wanted:
        return next((t for t in tenants if wanted in (t.istat_code, t.slug)), None)
    session = getattr(request, "session", None)
    if session is not None and session.get(SESSION_KEY):
        chosen = next((t for t in tenants if t.pk == session[SESSION_KEY]), None)
        if chosen is not None:
            return chosen
    return tenants[0] if tenants else None
