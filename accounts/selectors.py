from __future__ import annotations

from dataclasses import dataclass, field

from django.db.models import Q, QuerySet

from .models import Membership, Tenant, User
from .roles import STAFF_ROLES, Role


def roles_for(*, user: User, tenant: Tenant | None) -> frozenset[str]:
    """The role codes `user` holds in `tenant` (cached on the user object per request)."""
    if tenant is None or not user.is_authenticated:
        return frozenset()
    cache = user.__dict__.setdefault("_procedo_roles", {})
    if tenant.pk not in cache:
        cache[tenant.pk] = frozenset(
            Membership.objects.filter(user=user, tenant=tenant, is_active=True).values_list("role", flat=True)
        )
    return cache[tenant.pk]


def forget_cached_roles(user: User) -> None:
    """Drop the per-request role cache after the user's memberships changed."""
    user.__dict__.pop("_procedo_roles", None)


def tenants_for(*, user: User) -> list[Tenant]:
    if not user.is_authenticated:
        return []
    return list(
        Tenant.objects.filter(memberships__user=user, memberships__is_active=True, is_active=True)
        .defer("coat_of_arms")
        .distinct()
        .order_by("name")
    )


def users_with_role(*, tenant: Tenant, role: str):
    return User.objects.filter(
        memberships__tenant=tenant, memberships__role=role, memberships__is_active=True, is_active=True
    ).distinct()


# --------------------------------------------------------------------------- tenant administration


@dataclass
class TenantMember:
    """A user as the administration of one tenant sees them: only that tenant's memberships."""

    user: User
    roles: list[str] = field(default_factory=list)
    active: bool = True

    @property
    def role_labels(self) -> list[str]:
        return [str(Role(r).label) if r in Role.values else r for r in self.roles]


def tenant_member_list(*, tenant: Tenant, search: str = "", role: str = "") -> QuerySet[User]:
    """Users holding at least one membership (active or not) in `tenant`, filtered.

    Without a role filter only staff are listed: citizens (SPID/CIE) would bury them.
    """
    memberships = Membership.objects.filter(tenant=tenant)
    memberships = memberships.filter(role=role) if role else memberships.filter(role__in=sorted(STAFF_ROLES))
    qs = User.objects.filter(pk__in=memberships.values("user_id"))
    search = search.strip()
    if search:
        qs = qs.filter(
            Q(username__icontains=search) | Q(first_name__icontains=search) | Q(last_name__icontains=search)
            | Q(email__icontains=search) | Q(fiscal_code__iexact=search)
        )
    return qs.order_by("last_name", "first_name", "username")


def tenant_members(*, tenant: Tenant, users: list[User]) -> list[TenantMember]:
    """Attach to each user their roles and state in `tenant` (one query for the page)."""
    by_user: dict[int, TenantMember] = {u.pk: TenantMember(user=u, roles=[], active=False) for u in users}
    rows = Membership.objects.filter(tenant=tenant, user_id__in=by_user).order_by("role")
    for membership in rows:
        member = by_user[membership.user_id]
        member.roles.append(membership.role)
        member.active = member.active or membership.is_active
    return [by_user[u.pk] for u in users]


def tenant_member_get(*, tenant: Tenant, user_id: int) -> TenantMember | None:
    """One user of the tenant, or None when they hold no membership in it (other tenants' users)."""
    user = User.objects.filter(pk=user_id, memberships__tenant=tenant).distinct().first()
    if user is None:
        return None
    return tenant_members(tenant=tenant, users=[user])[0]


def user_other_tenant_count(*, tenant: Tenant, user: User) -> int:
    return Membership.objects.filter(user=user).exclude(tenant=tenant).values("tenant_id").distinct().count()
