"""Writes of the identity app: consume an assertion once, sign a citizen in."""

from __future__ import annotations

import datetime as dt
import re

from django.contrib.auth import login
from django.db import IntegrityError, transaction
from django.http import HttpRequest

from accounts.models import Membership, Tenant, User
from accounts.roles import Role
from audit.services import audit_record, client_ip
from common import clock

from .models import SeenAssertion
from .validator import ResponseRefused, ValidatedAssertion

SESSION_LOA = "identity_loa"
SESSION_IDP = "identity_idp"
SESSION_SCHEME = "identity_scheme"
SESSION_NAME_ID = "identity_name_id"
SESSION_INDEX = "identity_session_index"
CITIZEN_USERNAME_PREFIX = "cf:"
EIDAS_USERNAME_PREFIX = "eidas:"
_FISCAL_CODE = re.compile(r"^(?:[A-Z]{6}[0-9LMNPQRSTUV]{2}[A-Z][0-9LMNPQRSTUV]{2}[A-Z][0-9LMNPQRSTUV]{3}[A-Z]|[0-9]{11})$")


def assertion_id_consume(*, assertion: ValidatedAssertion, skew: dt.timedelta) -> None:
    """Record the assertion ID; a second use of the same one is refused (replay)."""
    now = clock.now()
    SeenAssertion.objects.filter(expires_at__lt=now).delete()
    try:
        with transaction.atomic():
            SeenAssertion.objects.create(assertion_id=assertion.assertion_id, idp_entity_id=assertion.idp_entity_id,
                                         expires_at=assertion.not_on_or_after + skew)
    except IntegrityError as exc:
        raise ResponseRefused("replay", "assertion already used") from exc


def fiscal_code_from_attribute(value: str) -> str:
    """SPID and CIE send `fiscalNumber` as `TINIT-<fiscal code>` (ETSI EN 319 412-1 semantics identifier)."""
    value = "".join((value or "").split()).upper()
    if not value.startswith("TINIT-"):
        raise ResponseRefused("fiscal_number", "fiscalNumber is not TINIT-<codice fiscale>")
    code = value.removeprefix("TINIT-")
    if not _FISCAL_CODE.match(code):
        raise ResponseRefused("fiscal_number", "not a fiscal code")
    return code


def _citizen_only_account(fiscal_code: str) -> User | None:
    """An existing account of this person that is a citizen's and nothing more (e.g. made by the office
    before SPID): reuse it. Never an operator's, a staff or a superuser account: a digital identity
    signs in the citizen, it does not grant the powers of an office."""
    candidates = list(User.objects.filter(fiscal_code=fiscal_code, is_staff=False, is_superuser=False)[:2])
    if len(candidates) != 1:
        return None
    roles = set(Membership.objects.filter(user=candidates[0]).values_list("role", flat=True))
    return candidates[0] if roles <= {Role.CITIZEN} else None


def citizen_sign_in(*, request: HttpRequest, tenant: Tenant, assertion: ValidatedAssertion, scheme: str) -> User:
    """Sign the citizen in: their account is keyed by fiscal code (eIDAS: by the node's identifier),
    separate from any operator account; it gets the citizen role in the tenant; the level of
    assurance goes into the session and the audit trail."""
    attrs = assertion.attributes
    if scheme == "eidas" and not attrs.get("fiscalNumber"):
        identifier = "".join((attrs.get("spidCode") or "").split())
        if not identifier:
            raise ResponseRefused("identifier", "no spidCode from the eIDAS node")
        username, fiscal_code = f"{EIDAS_USERNAME_PREFIX}{identifier}"[:150], ""
    else:
        fiscal_code = fiscal_code_from_attribute(attrs.get("fiscalNumber", ""))
        username = f"{CITIZEN_USERNAME_PREFIX}{fiscal_code}"
    with transaction.atomic():
        user = User.objects.filter(username=username).first() or (
            _citizen_only_account(fiscal_code) if fiscal_code else None)
        if user is None:
            user = User(username=username, fiscal_code=fiscal_code)
            user.set_unusable_password()
        user.first_name = (attrs.get("name") or user.first_name)[:150]
        user.last_name = (attrs.get("familyName") or user.last_name)[:150]
        if attrs.get("email") and "@" in attrs["email"]:
            user.email = attrs["email"][:254]
        user.save()
        Membership.objects.get_or_create(user=user, tenant=tenant, role=Role.CITIZEN)
        # The session's own login event comes from accounts.receivers (Django's user_logged_in); this one
        # records what only we know: the scheme, the identity provider and the level of assurance.
        audit_record(
            tenant=tenant, actor=user, action="login", object_type="identity", object_id=str(user.pk),
            object_repr=fiscal_code or username, summary=f"Accesso con {scheme.upper()} ({assertion.level})",
            extra={"scheme": scheme, "level": assertion.level, "idp": assertion.idp_entity_id,
                   "assertion_id": assertion.assertion_id},
            ip=client_ip(request),
        )
    login(request, user, backend="django.contrib.auth.backends.ModelBackend")
    request.session[SESSION_LOA] = assertion.level
    request.session[SESSION_IDP] = assertion.idp_entity_id
    request.session[SESSION_SCHEME] = scheme
    request.session[SESSION_NAME_ID] = assertion.name_id
    request.session[SESSION_INDEX] = assertion.session_index
    return user
