
from accounts.middleware import session_remaining_seconds
from accounts.selectors import roles_for
from accounts.tenancy import memberships_for_request


def _tenants(request, user) -> list:
    """accounts.selectors.tenants_for's answer (active tenants where the user has an active membership,
    by name) from the memberships the request already loaded (middleware): no query of its own."""
    seen = {}
    for membership in memberships_for_request(request, user):
        if membership.tenant.is_active:
            seen.setdefault(membership.tenant_id, membership.tenant)
    return sorted(seen.values(), key=lambda t: (t.name, t.pk))


def tenancy(request):
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    tenant = getattr(request, "tenant", None)
    tenant = tenant if tenant else None
    return {
        "current_tenant": tenant,
        "user_tenants": _tenants(request, user),
        "user_roles": roles_for(user=user, tenant=tenant) if tenant else frozenset(),
        "session_timeout_seconds": session_remaining_seconds(request),
    }
