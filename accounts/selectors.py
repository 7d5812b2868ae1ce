from __future__ import annotations

from .models import Membership, Tenant, User


def roles_for(*, user: User, tenant: Tenant | None) -> frozenset[str]:
    """The role codes `user` holds in `tenant` (cached on the user object per request)."""
    if tenant is None or not user.is_authenticated:
        return frozenset()
    cache = user.__dict__.setdefault("_procedo_roles", {})
    if tenant.pk not in cache:
        cache[tenant.pk] = frozenset(
            Membership.objects.filter(user=user, tenant=tenant).values_list("role", flat=True)
        )
    return cache[tenant.pk]


def tenants_for(*, user: User) -> list[Tenant]:
    if not user.is_authenticated:
        return []
    return list(Tenant.objects.filter(memberships__user=user, is_active=True).distinct().order_by("name"))


def users_with_role(*, tenant: Tenant, role: str):
    return User.objects.filter(memberships__tenant=tenant, memberships__role=role, is_active=True).distinct()
