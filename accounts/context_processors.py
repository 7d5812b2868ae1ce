
from accounts.middleware import session_remaining_seconds
from accounts.selectors import roles_for, tenants_for


def tenancy(request):
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    tenant = getattr(request, "tenant", None)
    tenant = tenant if tenant else None
    return {
        "current_tenant": tenant,
        "user_tenants": tenants_for(user=user),
        "user_roles": roles_for(user=user, tenant=tenant) if tenant else frozenset(),
        "session_timeout_seconds": session_remaining_seconds(request),
    }
