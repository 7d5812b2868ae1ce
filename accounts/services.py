"""Writes of the tenant administration: local users, their memberships and passwords.

Every function takes the tenant explicitly and refuses actors who hold no admin role
in it; a target user is always looked up through the tenant's memberships, so an
administrator never reaches a user of another municipality.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable

from django.contrib.auth.validators import UnicodeUsernameValidator
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from audit.services import audit_record
from common import clock
from common import fiscal_code as fiscal_code_check
from common.errors import NotFound, PermissionRefused, ValidationFailed

from . import security
from .models import Membership, Tenant, User
from .roles import ADMIN_ROLES, STAFF_ROLES, Role, roles_grantable_by
from .selectors import forget_cached_roles, roles_for, user_other_tenant_count

# Roles the tenant administration grants. Citizens come from SPID/CIE, never from here.
GRANTABLE_ROLES = frozenset(STAFF_ROLES)
# No 0/O, 1/l/I: a one-time password is read aloud or copied from the screen.
PASSWORD_ALPHABET = "abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"


def _require_admin(actor: User, tenant: Tenant) -> frozenset[str]:
    roles = roles_for(user=actor, tenant=tenant)
    if not roles & ADMIN_ROLES and not actor.is_superuser:  # a superuser: the platform's operators
        raise PermissionRefused(_("Pagina riservata ai responsabili e agli amministratori dell'ente."))
    return roles


def roles_grantable(*, actor: User, tenant: Tenant) -> frozenset[str]:
    """The roles `actor` may grant in `tenant` (accounts.roles.ROLE_GRANTS)."""
    return roles_grantable_by(roles_for(user=actor, tenant=tenant), platform_admin=actor.is_superuser)


def _role_labels(roles: Iterable[str]) -> str:
    return ", ".join(str(Role(r).label) if r in Role.values else r for r in sorted(roles))


def _require_manageable(actor: User, tenant: Tenant, user: User, held: set[str]) -> None:
    """Nobody edits a user holding a role they may not grant (a colleague of their rank or above)."""
    above = held - roles_grantable(actor=actor, tenant=tenant)
    if above:
        raise PermissionRefused(
            _("%(u)s ha ruoli che non puoi gestire (%(r)s): chiedi all'assistenza della piattaforma.")
            % {"u": _label(user), "r": _role_labels(above)},
            code="role_above_actor",
        )


def _staff_roles_held(tenant: Tenant, user: User) -> set[str]:
    return set(Membership.objects.filter(tenant=tenant, user=user, role__in=list(GRANTABLE_ROLES))
               .values_list("role", flat=True))


def _member(tenant: Tenant, user_id: int) -> User:
    user = User.objects.filter(pk=user_id, memberships__tenant=tenant).distinct().first()
    if user is None:
        raise NotFound(_("Utente non trovato."))
    return user


def _label(user: User) -> str:
    return user.get_full_name() or user.username


def _clean_roles(roles: Iterable[str]) -> list[str]:
    wanted = sorted({str(r) for r in roles})
    unknown = [r for r in wanted if r not in GRANTABLE_ROLES]
    if unknown:
        raise ValidationFailed(_("Ruolo non valido."), details={"roles": [_("Ruolo non valido.")]})
    if not wanted:
        raise ValidationFailed(
            _("Scegli almeno un ruolo."),
            details={"roles": [_("Scegli almeno un ruolo; per togliere l'accesso disattiva l'utente.")]},
        )
    return wanted


def one_time_password() -> str:
    """16 random characters in groups of four: about 92 bits, easy to copy."""
    chars = "".join(secrets.choice(PASSWORD_ALPHABET) for _i in range(16))
    return "-".join(chars[i : i + 4] for i in range(0, 16, 4))


def normalise_fiscal_code(value: str) -> str:
    return "".join((value or "").split()).upper()


def tenant_user_create(
    *,
    tenant: Tenant,
    actor: User,
    username: str,
    first_name: str,
    last_name: str,
    email: str,
    fiscal_code: str,
    roles: Iterable[str],
    ip: str | None = None,
) -> tuple[User, str]:
    """Create a local user with roles in `tenant`; returns the user and their one-time password."""
    _require_admin(actor, tenant)
    username = (username or "").strip()
    first_name, last_name, email = (first_name or "").strip(), (last_name or "").strip(), (email or "").strip()
    fiscal_code = normalise_fiscal_code(fiscal_code)
    errors: dict[str, list[str]] = {}
    if not username:
        errors["username"] = [_("Campo obbligatorio.")]
    elif len(username) > 150:
        errors["username"] = [_("Al massimo 150 caratteri.")]
    else:
        try:
            UnicodeUsernameValidator()(username)
        except ValidationError:
            errors["username"] = [_("Usa solo lettere, cifre e i caratteri . @ + - _")]
    if not first_name:
        errors["first_name"] = [_("Campo obbligatorio.")]
    if not last_name:
        errors["last_name"] = [_("Campo obbligatorio.")]
    if len(first_name) > 150 or len(last_name) > 150:
        errors.setdefault("last_name", []).append(_("Al massimo 150 caratteri."))
    if email:
        try:
            validate_email(email)
        except ValidationError:
            errors["email"] = [_("Indirizzo email non valido.")]
    if not fiscal_code:
        errors["fiscal_code"] = [_("Campo obbligatorio.")]
    elif not fiscal_code_check.is_valid(fiscal_code):
        errors["fiscal_code"] = [_("Codice fiscale non valido (controlla il carattere di controllo).")]
    elif Membership.objects.filter(tenant=tenant, user__fiscal_code=fiscal_code).exists():
        errors["fiscal_code"] = [_("In questo ente c'è già un utente con questo codice fiscale.")]
    try:
        wanted = _clean_roles(roles)
    except ValidationFailed as exc:
        errors.update(exc.details)
        wanted = []
    not_grantable = set(wanted) - roles_grantable(actor=actor, tenant=tenant)
    if not_grantable:
        errors["roles"] = [_("Non puoi assegnare questi ruoli: %(r)s.") % {"r": _role_labels(not_grantable)}]
    if "username" not in errors and User.objects.filter(username__iexact=username).exists():
        errors["username"] = [_("Nome utente già in uso: scegline un altro.")]
    if errors:
        raise ValidationFailed(_("Controlla i campi segnalati."), details=errors)

    password = one_time_password()
    try:
        with transaction.atomic():
            user = User(
                username=username, first_name=first_name, last_name=last_name, email=email,
                fiscal_code=fiscal_code, must_change_password=True,
            )
            user.set_password(password)
            user.save()
            Membership.objects.bulk_create([Membership(user=user, tenant=tenant, role=r) for r in wanted])
            audit_record(
                tenant=tenant, actor=actor, action="create", object_type="user", object_id=str(user.pk),
                object_repr=username, summary=_("Creato l'utente %(u)s con i ruoli: %(r)s")
                % {"u": username, "r": ", ".join(wanted)},
                before={"roles": []},
                after={"username": username, "first_name": first_name, "last_name": last_name, "email": email,
                       "fiscal_code": fiscal_code, "roles": wanted},
                ip=ip,
            )
    except IntegrityError as exc:  # the same username typed twice at once
        raise ValidationFailed(
            _("Controlla i campi segnalati."), details={"username": [_("Nome utente già in uso: scegline un altro.")]}
        ) from exc
    return user, password


def tenant_user_set_roles(
    *, tenant: Tenant, actor: User, user_id: int, roles: Iterable[str], ip: str | None = None
) -> User:
    """Replace the user's staff roles in `tenant` (a citizen membership, if any, stays)."""
    _require_admin(actor, tenant)
    wanted = set(_clean_roles(roles))
    with transaction.atomic():
        user = _member(tenant, user_id)
        rows = list(Membership.objects.select_for_update().filter(tenant=tenant, user=user))
        current = {m.role for m in rows if m.role in GRANTABLE_ROLES}
        if user.pk == actor.pk and not wanted & ADMIN_ROLES and current & ADMIN_ROLES:
            raise ValidationFailed(
                _("Non puoi togliere a te stesso il ruolo di amministrazione: chiedi a un altro amministratore."),
                details={"roles": [_("Non puoi togliere a te stesso il ruolo di amministrazione.")]},
                code="self_demotion",
            )
        if user.pk == actor.pk:
            if wanted - current:
                raise PermissionRefused(
                    _("Non puoi aggiungere ruoli a te stesso: chiedi a chi può assegnarli."), code="self_grant"
                )
        else:
            _require_manageable(actor, tenant, user, current)
            not_grantable = wanted - roles_grantable(actor=actor, tenant=tenant)
            if not_grantable:
                raise PermissionRefused(
                    _("Non puoi assegnare questi ruoli: %(r)s.") % {"r": _role_labels(not_grantable)},
                    code="role_not_grantable",
                )
        added, removed = sorted(wanted - current), sorted(current - wanted)
        if not added and not removed:
            return user
        active = any(m.is_active for m in rows) if rows else True
        Membership.objects.filter(tenant=tenant, user=user, role__in=removed).delete()
        Membership.objects.bulk_create(
            [Membership(user=user, tenant=tenant, role=r, is_active=active) for r in added]
        )
        audit_record(
            tenant=tenant, actor=actor, action="update", object_type="user", object_id=str(user.pk),
            object_repr=user.username,
            summary=_("Ruoli di %(u)s: aggiunti %(a)s; tolti %(r)s")
            % {"u": user.username, "a": ", ".join(added) or "-", "r": ", ".join(removed) or "-"},
            before={"roles": sorted(current)}, after={"roles": sorted(wanted)}, extra={"change": "roles"}, ip=ip,
        )
    forget_cached_roles(user)
    if user.pk == actor.pk:
        forget_cached_roles(actor)
    return user


def tenant_user_set_active(
    *, tenant: Tenant, actor: User, user_id: int, active: bool, ip: str | None = None
) -> User:
    """Suspend or restore every membership of the user in `tenant` (their roles are kept)."""
    _require_admin(actor, tenant)
    with transaction.atomic():
        user = _member(tenant, user_id)
        if user.pk == actor.pk and not active:
            raise ValidationFailed(
                _("Non puoi disattivare te stesso: chiedi a un altro amministratore."), code="self_demotion"
            )
        if user.pk != actor.pk:
            _require_manageable(actor, tenant, user, _staff_roles_held(tenant, user))
        changed = Membership.objects.filter(tenant=tenant, user=user).exclude(is_active=active).update(is_active=active)
        if not active:
            security.tokens_revoke(user=user)  # a suspended user's scripts stop with them
        if changed:
            audit_record(
                tenant=tenant, actor=actor, action="update", object_type="user", object_id=str(user.pk),
                object_repr=user.username,
                summary=(_("Riattivato l'accesso di %(u)s all'ente") if active
                         else _("Sospeso l'accesso di %(u)s all'ente")) % {"u": user.username},
                before={"active": not active}, after={"active": active}, extra={"change": "active"}, ip=ip,
            )
    forget_cached_roles(user)
    return user


def tenant_user_reset_password(*, tenant: Tenant, actor: User, user_id: int, ip: str | None = None) -> tuple[User, str]:
    """Give the user a one-time password (to be changed at the next login); returns it once."""
    _require_admin(actor, tenant)
    with transaction.atomic():
        user = _member(tenant, user_id)
        if user.pk == actor.pk:
            raise ValidationFailed(_("Per la tua password usa la pagina «Cambia password»."), code="own_password")
        _require_manageable(actor, tenant, user, _staff_roles_held(tenant, user))
        # A password opens every tenant of the user: an administrator of one municipality
        # must not be able to take over an account that also works for another one.
        if user.is_superuser or user.is_staff or user_other_tenant_count(tenant=tenant, user=user):
            raise PermissionRefused(
                _("%(u)s lavora anche per altri enti: la password può essere reimpostata solo "
                  "dall'assistenza della piattaforma.") % {"u": _label(user)},
                code="shared_user",
            )
        password = one_time_password()
        user.set_password(password)
        user.must_change_password = True
        user.save(update_fields=["password", "must_change_password"])
        security.tokens_revoke(user=user)
        audit_record(
            tenant=tenant, actor=actor, action="update", object_type="user", object_id=str(user.pk),
            object_repr=user.username, summary=_("Reimpostata la password di %(u)s") % {"u": user.username},
            extra={"change": "password_reset"}, ip=ip,
        )
    return user, password


def own_password_change(*, user: User, new_password: str, tenant: Tenant | None, ip: str | None = None) -> None:
    """The user chooses their own password (validated by the caller's form); a one-time one ends here."""
    with transaction.atomic():
        user.set_password(new_password)
        user.must_change_password = False
        user.save(update_fields=["password", "must_change_password"])
        security.tokens_revoke(user=user)  # a token issued under the old password dies with it
        audit_record(
            tenant=tenant, actor=user, action="update", object_type="user", object_id=str(user.pk),
            object_repr=user.username, summary=_("%(u)s ha cambiato la propria password") % {"u": user.username},
            extra={"change": "password"}, ip=ip,
        )


ROLE_CHOICES = [(r.value, r.label) for r in Role if r.value in GRANTABLE_ROLES]


COAT_OF_ARMS_MAX_BYTES = 1024 * 1024
COAT_OF_ARMS_MAX_SIDE = 2000


def tenant_coat_of_arms_set(*, tenant: Tenant, user: User, data: bytes, ip: str | None = None) -> None:
    """Replace the tenant's coat of arms: PNG or JPEG (checked by content; no SVG, which can carry
    scripts), at most 1 MB and 2000 px a side; audited."""
    import io

    from PIL import Image, UnidentifiedImageError

    if len(data) > COAT_OF_ARMS_MAX_BYTES:
        raise ValidationFailed(_("Lo stemma supera 1 MB."), details={"file": ["too_large"]})
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        mime, kind = "image/png", "PNG"
    elif data[:3] == b"\xff\xd8\xff":
        mime, kind = "image/jpeg", "JPEG"
    else:
        raise ValidationFailed(_("Lo stemma deve essere un'immagine PNG o JPEG."), details={"file": ["type"]})
    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.format != kind:
                raise UnidentifiedImageError(image.format)
            width, height = image.size
            image.verify()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise ValidationFailed(_("L'immagine dello stemma è danneggiata."), details={"file": ["corrupt"]}) from exc
    if max(width, height) > COAT_OF_ARMS_MAX_SIDE:
        raise ValidationFailed(_("Lo stemma è troppo grande (al massimo 2000 pixel per lato)."),
                               details={"file": ["dimensions"]})
    with transaction.atomic():
        Tenant.objects.filter(pk=tenant.pk).update(coat_of_arms=data, coat_of_arms_mime=mime,
                                                   coat_of_arms_updated_at=clock.now())
        audit_record(tenant=tenant, actor=user, action="update", object_type="tenant", object_id=str(tenant.pk),
                     object_repr=tenant.name, summary=_("Aggiornato lo stemma dell'ente"), ip=ip,
                     after={"mime": mime, "size": len(data), "width": width, "height": height})
