"""Second factor pages (enrolment with a QR code, verification after login) and the API token
endpoint. Thin: the rules live in accounts/security.py."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import authenticate, user_login_failed
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods
from django_otp import login as otp_login
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status, views
from rest_framework.permissions import AllowAny
from rest_framework.response import Response

from audit.events import second_factor_enrolled_event

from . import security


def _next_url(request: HttpRequest) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()},
                                                  require_https=request.is_secure()):
        return target
    return "/"


def _redirect_with_next(name: str, request: HttpRequest) -> HttpResponse:
    return redirect(f"{reverse(name)}?{urlencode({'next': _next_url(request)})}")


@login_required
@never_cache
@require_http_methods(["GET", "POST"])
def two_factor_setup(request: HttpRequest) -> HttpResponse:
    """Enrol an authenticator app: QR code and secret of a pending TOTP device, confirmed by a code."""
    device = security.confirmed_device(request.user)
    if device is not None and request.user.is_verified():
        return render(request, "registration/two_factor_setup.html", {"active": True, "nav": ""})
    if device is not None:
        return _redirect_with_next("two_factor_verify", request)
    pending = security.pending_device(request.user)
    error = ""
    if request.method == "POST":
        if security.device_enrol_confirm(user=request.user, device=pending, code=request.POST.get("code", "")):
            otp_login(request, pending)
            second_factor_enrolled_event(request=request, user=request.user)
            messages.success(request, _("Autenticazione a due fattori attivata."))
            return redirect(_next_url(request))
        error = _("Codice non valido: controlla l'ora del telefono e inserisci il codice di 6 cifre mostrato ora.")
    return render(request, "registration/two_factor_setup.html", {
        "active": False, "qr_svg": security.otpauth_qr_svg(pending), "secret": security.secret_base32(pending),
        "required": security.second_factor_required(request.user), "error": error, "next": _next_url(request),
        "nav": "",
    }, status=400 if error else 200)


@login_required
@never_cache
@require_http_methods(["GET", "POST"])
def two_factor_verify(request: HttpRequest) -> HttpResponse:
    """After the password: the 6-digit code of the user's authenticator app."""
    device = security.confirmed_device(request.user)
    if device is None:
        return _redirect_with_next("two_factor_setup", request)
    if request.user.is_verified():
        return redirect(_next_url(request))
    error = ""
    if request.method == "POST":
        if security.verify_code(device, request.POST.get("code", "")):
            otp_login(request, device)
            return redirect(_next_url(request))
        user_login_failed.send(sender=__name__, credentials={"username": request.user.get_username()},
                               request=request)
        error = _("Codice non valido o scaduto.")
    return render(request, "registration/two_factor_verify.html", {"error": error, "next": _next_url(request)},
                  status=400 if error else 200)


class TokenRequestSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(max_length=4096, trim_whitespace=False)
    otp_code = serializers.CharField(max_length=12, required=False, allow_blank=True)


class TokenResponseSerializer(serializers.Serializer):
    token = serializers.CharField()
    expires_at = serializers.DateTimeField()


class TokenObtainView(views.APIView):
    """POST username + password (+ otp_code when the user has a second factor) → an API token that
    expires after PROCEDO_API_TOKEN_TTL_DAYS. Failed attempts count towards the login lock-out."""

    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(request=TokenRequestSerializer, responses={200: TokenResponseSerializer, 400: OpenApiTypes.OBJECT,
                                                             401: OpenApiTypes.OBJECT, 403: OpenApiTypes.OBJECT,
                                                             429: OpenApiTypes.OBJECT})
    def post(self, request):
        ser = TokenRequestSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        username, password = ser.validated_data["username"], ser.validated_data["password"]
        django_request = request._request
        user = authenticate(django_request, username=username, password=password)
        if getattr(django_request, "axes_locked_out", False):
            return security.lockout_response(django_request)
        if user is None:
            return Response({"error": {"code": "invalid_credentials", "message": _("Nome utente o password non corretti."),
                                       "fields": {}}}, status=status.HTTP_401_UNAUTHORIZED)
        device = security.confirmed_device(user)
        if device is None and security.second_factor_required(user):
            return Response({"error": {"code": "second_factor_required", "message": _(
                "Il tuo ruolo richiede l'autenticazione a due fattori: attivala dalla pagina «Sicurezza»."),
                "fields": {}}}, status=status.HTTP_403_FORBIDDEN)
        if device is not None and not security.verify_code(device, ser.validated_data.get("otp_code", "")):
            user_login_failed.send(sender=__name__, credentials={"username": username}, request=django_request)
            return Response({"error": {"code": "otp_invalid", "message": _("Codice non valido o scaduto."),
                                       "fields": {"otp_code": [_("Codice non valido o scaduto.")]}}},
                            status=status.HTTP_403_FORBIDDEN)
        token = security.token_issue(user=user)
        return Response({"token": token.key, "expires_at": security.token_expires_at(token.created)})
