"""Explicit audit helpers called by the services and views that do the thing."""

from __future__ import annotations

from typing import Any

from django.db import connection, transaction
from django.utils.translation import gettext as _

from .services import audit_record, client_ip


def record_read(*, tenant, user, ip, object_type: str, object_id: str, object_repr: str = "") -> None:
    """Reads of case and personal data are logged (GDPR; tenders ask for it).

    A read that is the only write of its request (a page view: no transaction open) commits without
    waiting for the WAL flush (PostgreSQL `synchronous_commit = off` for that transaction only). The
    event and its chain head still commit together or not at all, in WAL order: a PostgreSQL crash can
    lose the read events of its last fraction of a second (wal_writer_delay, 200 ms by default, up to
    three times that), never half of one, and any later durable commit (a change, a seal) flushes
    them. What it saves is the fsync a page view waited for (4-7 ms on this machine under load, see
    bench/RESULTS.md) and the WAL flushes of hundreds of readers. Changes are never committed this way."""
    fields = {"tenant": tenant, "actor": user, "action": "read", "object_type": object_type, "object_id": object_id,
              "object_repr": object_repr, "summary": f"Consultazione {object_type} {object_repr}".strip(), "ip": ip}
    if connection.vendor != "postgresql" or connection.in_atomic_block:
        audit_record(**fields)  # part of the caller's transaction: its commit decides
        return
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit TO OFF")
        audit_record(**fields)


def _tenant_of_user(request, user):
    """The tenant a session of this user acts for (the one the login lands on); None: system chain."""
    from accounts.tenancy import resolve_tenant

    if user is None or request is None:
        return None
    return resolve_tenant(request, user)


def login_succeeded_event(*, request, user) -> None:
    audit_record(
        tenant=_tenant_of_user(request, user), actor=user, action="login", object_type="session",
        object_id=user.get_username()[:64], object_repr=user.get_username(),
        summary=_("Accesso di %(u)s") % {"u": user.get_username()}, ip=client_ip(request) if request else None,
    )


def login_failed_event(*, request, username: str) -> None:
    """A refused login: the name tried and the address. Goes to the chain of the tenant of the
    account if one exists under that name (its supervisors see attacks on it), else the system chain."""
    from django.contrib.auth import get_user_model

    username = str(username or "")[:150]
    known = get_user_model()._default_manager.filter(**{get_user_model().USERNAME_FIELD: username}).first() if username else None
    audit_record(
        tenant=_tenant_of_user(request, known), actor=None, action="login_failed", object_type="session",
        object_id=username[:64], object_repr=username,
        summary=_("Accesso rifiutato per %(u)s") % {"u": username}, extra={"username": username, "known_user": bool(known)},
        ip=client_ip(request) if request else None,
    )


def second_factor_enrolled_event(*, request, user) -> None:
    """A second factor was confirmed (any earlier one is gone): who, when, from where."""
    audit_record(
        tenant=getattr(request, "tenant", None) or _tenant_of_user(request, user), actor=user, action="update",
        object_type="second_factor", object_id=user.get_username()[:64], object_repr=user.get_username(),
        summary=_("Autenticazione a due fattori attivata da %(u)s") % {"u": user.get_username()},
        before={"confirmed_device": None}, after={"confirmed_device": "totp"}, ip=client_ip(request),
    )


def logout_event(*, request, user) -> None:
    if user is None or not getattr(user, "is_authenticated", False):
        return  # logging out an anonymous session changes nothing
    tenant = getattr(request, "tenant", None) if request is not None else None
    audit_record(
        tenant=tenant if tenant is not None else _tenant_of_user(request, user), actor=user, action="logout",
        object_type="session", object_id=user.get_username()[:64], object_repr=user.get_username(),
        summary=_("Uscita di %(u)s") % {"u": user.get_username()}, ip=client_ip(request) if request else None,
    )


def admin_change_event(*, request, obj, action: str, before: Any, after: Any, message: Any) -> None:
    """A row added, changed or deleted through the Django admin, with before and after."""
    from accounts.models import Tenant

    if isinstance(obj, Tenant):
        tenant = None if action == "delete" else obj
    else:
        tenant = getattr(obj, "tenant", None) if getattr(obj, "tenant_id", None) else None
    labels = {"create": _("aggiunto"), "update": _("modificato"), "delete": _("eliminato")}
    audit_record(
        tenant=tenant if isinstance(tenant, Tenant) else None, actor=request.user, action=action,
        object_type=obj._meta.label_lower[:50], object_id=str(obj.pk), object_repr=str(obj),
        summary=_("Amministrazione Django: %(m)s «%(o)s» %(a)s") % {
            "a": labels.get(action, action), "m": obj._meta.verbose_name, "o": obj},
        before=before, after=after, extra={"via": "django-admin", "change_message": message or ""},
        ip=client_ip(request),
    )


def audit_trail_read_event(*, tenant, user, ip, filters: dict[str, Any], count: int) -> None:
    """Reading the audit trail is itself audited (who looked at whose traces)."""
    audit_record(
        tenant=tenant, actor=user, action="read", object_type="audit", object_id="*",
        summary=_("Consultazione del registro di audit"), extra={"filters": filters, "count": count}, ip=ip,
    )


def message_delivered_event(
    *, tenant, user, message: str, correlation_key: str, payload: Any, caught: int, ip: str | None
) -> None:
    """A person delivered a BPMN message to a case (the engine's own history has no actor)."""
    audit_record(
        tenant=tenant, actor=user, action="update", object_type="case_message", object_id=str(correlation_key)[:64],
        object_repr=f"{message} → {correlation_key}",
        summary=_("Messaggio «%(m)s» consegnato alla pratica %(k)s") % {"m": message, "k": correlation_key},
        after=payload, extra={"message": message, "correlation_key": correlation_key, "caught": caught}, ip=ip,
    )


def message_refused_event(
    *, tenant, user, message: str, correlation_key: str, payload: Any, reason: str, ip: str | None
) -> None:
    """A message a person delivered was refused by the case (it does not correlate: e.g. another
    municipality's confirmation that does not quote this case's request). Kept so that a wrong
    or forged confirmation leaves a trace."""
    audit_record(
        tenant=tenant, actor=user, action="update", object_type="case_message", object_id=str(correlation_key)[:64],
        object_repr=f"{message} ✗ {correlation_key}",
        summary=_("Messaggio «%(m)s» rifiutato dalla pratica %(k)s") % {"m": message, "k": correlation_key},
        after=payload, extra={"message": message, "correlation_key": correlation_key, "refused": reason}, ip=ip,
    )
