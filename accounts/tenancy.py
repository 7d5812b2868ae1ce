"""Which tenant a request acts for. The single place where that is decided.

A user of one tenant gets it; a user of several picks one: API clients with the
`X-Procedo-Tenant` header (ISTAT code or slug), browser sessions with the tenant
switcher (stored in the session). A request naming a tenant the user does not
belong to gets no tenant at all, so everything tenant-scoped is then empty/404.
"""

from __future__ import annotations

import functools
from typing import Any

from django.db import connections, router
from django.db.models import Exists, OuterRef
from django.http import HttpRequest

from .models import Membership, Tenant, User
from .roles import Role

SESSION_KEY = "procedo_tenant_id"
HEADER = "HTTP_X_PROCEDO_TENANT"
_REQUEST_CACHE = "_procedo_memberships"


def _request_of(request: Any) -> Any:
    return getattr(request, "_request", request)  # DRF's Request wraps Django's


def memberships_for_request(request: Any, user: User) -> list[Membership]:
    """The user's active memberships with their tenants, each row also telling whether the user has
    a confirmed second factor: one query per request, shared by the second-factor check and the
    tenant resolution (which used to ask one query each), cached on the request."""
    from django_otp.plugins.otp_totp.models import TOTPDevice

    holder = _request_of(request) if request is not None else None
    cached = getattr(holder, _REQUEST_CACHE, None)
    if cached is not None and cached[0] == user.pk:
        return cached[1]
    rows = list(
        Membership.objects.filter(user=user, is_active=True).select_related("tenant").defer("tenant__coat_of_arms")
        .annotate(user_has_device=Exists(TOTPDevice.objects.filter(user=OuterRef("user_id"), confirmed=True)))
    )
    if holder is not None:
        setattr(holder, _REQUEST_CACHE, (user.pk, rows))
    return rows


def memberships_for_token(request: Any, key: str) -> list[Membership]:
    """As memberships_for_request, found by API token key, with each row's user and the user's token
    loaded too: one query authenticates the request, answers the second-factor rule and gives the
    tenants. Empty when the key is unknown or its user has no active membership (the caller then
    authenticates the ordinary way).

    The statement is built once per process (`_token_statement`): building its ORM twin (four joined
    models and an EXISTS) cost ~2.5 ms of CPU on every API request, more than the query itself."""
    alias = router.db_for_read(Membership)
    sql, groups = _token_statement(alias)
    conn = connections[alias]
    with conn.cursor() as cursor:
        cursor.execute(sql, [key])
        raw_rows = cursor.fetchall()
    if not raw_rows:
        return []
    converters = _token_converters(conn, groups)
    rows: list[Membership] = []
    user = token = None
    for raw in raw_rows:
        values = list(raw)
        for index, funcs, col in converters:
            value = values[index]
            for func in funcs:
                value = func(value, col, conn)
            values[index] = value
        objects = []
        start = 0
        for model, attnames in groups:
            objects.append(model.from_db(alias, attnames, values[start:start + len(attnames)]))
            start += len(attnames)
        membership, tenant, row_user, row_token = objects
        if user is None:
            user, token = row_user, row_token  # one user object for the request (its role cache included)
            user.auth_token = token
        membership.tenant = tenant
        membership.user = user
        membership.user_has_device = bool(values[start])
        rows.append(membership)
    if request is not None:
        setattr(_request_of(request), _REQUEST_CACHE, (user.pk, rows))
    return rows


@functools.cache
def _token_statement(alias: str) -> tuple[str, tuple[tuple[type, list[str]], ...]]:
    """The SQL of memberships_for_token and, per model, the attribute names of its columns in order."""
    from django_otp.plugins.otp_totp.models import TOTPDevice
    from rest_framework.authtoken.models import Token

    q = connections[alias].ops.quote_name
    parts = (("m", Membership, ()), ("t", Tenant, ("coat_of_arms",)), ("u", User, ()), ("k", Token, ()))
    columns: list[str] = []
    groups = []
    for table_alias, model, skip in parts:
        fields = [f for f in model._meta.concrete_fields if f.name not in skip]
        columns += [f"{table_alias}.{q(f.column)}" for f in fields]
        groups.append((model, [f.attname for f in fields]))
    device = TOTPDevice._meta
    sql = (
        f"SELECT {', '.join(columns)}, EXISTS(SELECT 1 FROM {q(device.db_table)} d "
        f"WHERE d.{q(device.get_field('user').column)} = m.{q('user_id')} "
        f"AND d.{q(device.get_field('confirmed').column)}) "
        f"FROM {q(Membership._meta.db_table)} m "
        f"INNER JOIN {q(Tenant._meta.db_table)} t ON t.{q('id')} = m.{q('tenant_id')} "
        f"INNER JOIN {q(User._meta.db_table)} u ON u.{q('id')} = m.{q('user_id')} "
        f"INNER JOIN {q(Token._meta.db_table)} k ON k.{q(Token._meta.get_field('user').column)} = u.{q('id')} "
        f"WHERE k.{q('key')} = %s AND m.{q('is_active')} "
        f"ORDER BY m.{q('id')}"
    )
    return sql, tuple(groups)


def _token_converters(conn: Any, groups: tuple[tuple[type, list[str]], ...]) -> list[tuple[int, list[Any], Any]]:
    """Per column index, the functions that turn its database value into the Python value, as the ORM
    would (booleans and datetimes on SQLite, none on PostgreSQL). Kept on the connection object."""
    cached = conn.__dict__.get("_procedo_token_converters")
    if cached is not None:
        return cached
    converters: list[tuple[int, list[Any], Any]] = []
    index = 0
    for model, attnames in groups:
        for attname in attnames:
            field = next(f for f in model._meta.concrete_fields if f.attname == attname)
            col = field.get_col(model._meta.db_table)
            funcs = conn.ops.get_db_converters(col) + col.get_db_converters(conn)
            if funcs:
                converters.append((index, funcs, col))
            index += 1
    conn.__dict__["_procedo_token_converters"] = converters
    return converters


def second_factor_state_for_request(request: Any, user: User) -> tuple[bool, bool]:
    """(has a confirmed device, must have one), as accounts.security.second_factor_state, from the
    request's memberships when the user has any (no query of its own)."""
    from . import security

    rows = memberships_for_request(request, user)
    if not rows:  # no membership to carry the answer (a platform superuser): ask directly
        return security.second_factor_state(user)
    required = bool(user.is_superuser) or any(m.role == Role.PROCESS_ADMIN for m in rows)
    return bool(rows[0].user_has_device), required


def resolve_tenant(request: HttpRequest, user: User | None) -> Tenant | None:
    if user is None or not user.is_authenticated:
        return None
    # One query gives the user's tenants and roles; the roles are cached on the user
    # object for this request (accounts.selectors.roles_for reads that cache).
    by_tenant: dict[int, tuple[Tenant, set[str]]] = {}
    for membership in memberships_for_request(request, user):
        if not membership.tenant.is_active:
            continue
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
