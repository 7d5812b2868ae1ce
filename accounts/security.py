"""Login hardening (issue 17, finding 10): lock-out page, API tokens with expiry, second factor.

- Repeated failed logins (page and token endpoint) are counted by django-axes; the lock-out answer
  is `lockout_response` (Italian page, JSON on the API).
- API tokens (DRF authtoken) expire PROCEDO_API_TOKEN_TTL_DAYS after issue and are revoked when the
  password changes or the user is suspended (`tokens_revoke`).
- Second factor: TOTP devices of django-otp. Any user may enrol; process administrators (and Django
  superusers) must: until they have a confirmed device and verified it in this session they reach
  nothing but the enrolment/verification pages (accounts/middleware.py) and the API refuses them.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils.translation import gettext as _

from common import clock

from .models import Membership, User
from .roles import Role

# --------------------------------------------------------------------------- lock-out


def lockout_message() -> str:
    minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
    return _("Troppi tentativi di accesso non riusciti: l'accesso è bloccato per %(m)s minuti. "
             "Riprova più tardi o chiedi all'amministratore dell'ente.") % {"m": minutes}


def lockout_response(request: HttpRequest, original_response: HttpResponse | None = None,
                     credentials: dict | None = None) -> HttpResponse:
    """What django-axes answers to a locked-out client: 429, in Italian."""
    if request.path.startswith("/api/"):
        return JsonResponse({"error": {"code": "locked_out", "message": lockout_message(), "fields": {}}}, status=429)
    return render(request, "registration/locked_out.html", {"message": lockout_message()}, status=429)


# --------------------------------------------------------------------------- API tokens


def token_ttl() -> dt.timedelta:
    return dt.timedelta(days=int(settings.PROCEDO_API_TOKEN_TTL_DAYS))


def token_expires_at(created: dt.datetime) -> dt.datetime:
    return created + token_ttl()


def token_expired(created: dt.datetime) -> bool:
    return clock.now() >= token_expires_at(created)


def token_issue(*, user: User) -> Any:
    """A fresh token for the user (the previous one is replaced: one token per user)."""
    from rest_framework.authtoken.models import Token

    Token.objects.filter(user=user).delete()
    return Token.objects.create(user=user)


def tokens_revoke(*, user: User) -> int:
    """Forget every API token of the user (password changed, access suspended)."""
    from rest_framework.authtoken.models import Token

    deleted, _rows = Token.objects.filter(user=user).delete()
    return deleted


# --------------------------------------------------------------------------- second factor


def second_factor_required(user: Any) -> bool:
    """Process administrators and superusers cannot work without a second factor."""
    if not getattr(user, "is_authenticated", False):
        return False
    if user.is_superuser:
        return True
    return Membership.objects.filter(user=user, role=Role.PROCESS_ADMIN, is_active=True).exists()


def second_factor_state(user: Any) -> tuple[bool, bool]:
    """(has a confirmed device, must have one) in one query: the middleware asks on every page."""
    from django.db.models import Exists, OuterRef
    from django_otp.plugins.otp_totp.models import TOTPDevice

    row = User.objects.filter(pk=user.pk).annotate(
        has_device=Exists(TOTPDevice.objects.filter(user=OuterRef("pk"), confirmed=True)),
        is_process_admin=Exists(Membership.objects.filter(user=OuterRef("pk"), role=Role.PROCESS_ADMIN,
                                                          is_active=True)),
    ).values_list("has_device", "is_process_admin", "is_superuser").first()
    if row is None:
        return False, False
    has_device, is_process_admin, is_superuser = row
    return bool(has_device), bool(is_process_admin or is_superuser)


def confirmed_device(user: Any):
    from django_otp.plugins.otp_totp.models import TOTPDevice

    return TOTPDevice.objects.filter(user=user, confirmed=True).order_by("pk").first()


def pending_device(user: User):
    """The unconfirmed TOTP device being enrolled (created on first visit of the enrolment page)."""
    from django_otp.plugins.otp_totp.models import TOTPDevice

    device = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("pk").first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name=_("App di autenticazione"), confirmed=False)
    return device


def device_enrol_confirm(*, user: User, device: Any, code: str) -> bool:
    """Confirm the enrolment when `code` is right; the user's other TOTP devices are removed."""
    from django_otp.plugins.otp_totp.models import TOTPDevice

    if not verify_code(device, code):
        return False
    device.confirmed = True
    device.save(update_fields=["confirmed"])
    TOTPDevice.objects.filter(user=user).exclude(pk=device.pk).delete()
    return True


def verify_code(device: Any, code: str) -> bool:
    code = "".join((code or "").split())
    if not code.isdigit() or len(code) != 6:
        return False
    return bool(device.verify_token(code))


def otpauth_qr_svg(device: Any) -> str:
    """The otpauth:// URI of the device as an inline SVG QR code (no image request, no CDN)."""
    import qrcode
    import qrcode.image.svg

    image = qrcode.make(device.config_url, image_factory=qrcode.image.svg.SvgPathImage, box_size=8)
    return image.to_string(encoding="unicode")


def secret_base32(device: Any) -> str:
    import base64

    text = base64.b32encode(device.bin_key).decode().rstrip("=")
    return " ".join(text[i:i + 4] for i in range(0, len(text), 4))


def axes_client_ip(request: HttpRequest) -> str | None:
    """The client address axes counts failures by: the same rule as the audit trail (trusted proxies)."""
    from audit.services import client_ip

    return client_ip(request)
