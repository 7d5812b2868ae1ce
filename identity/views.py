"""SPID / CIE / eIDAS pages: metadata, choice of identity provider, start of login, ACS, logout."""

from __future__ import annotations

import datetime as dt
import logging
import secrets

from django.conf import settings
from django.contrib.auth import logout
from django.contrib.auth.decorators import login_required
from django.core import signing
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.models import Tenant
from audit.services import audit_record, client_ip
from common import clock

from .cns import cns_enabled
from .idps import identity_provider, identity_providers
from .levels import LEVELS
from .services import (
    SESSION_IDP,
    SESSION_INDEX,
    SESSION_LOA,
    SESSION_NAME_ID,
    assertion_id_consume,
    citizen_sign_in,
)
from .slo import (
    logout_request_build,
    logout_request_validate,
    logout_response_build,
    logout_response_validate,
    message_read,
)
from .sp import EIDAS_INDEXES, authn_request_build, metadata_xml, service_provider, sp_credentials_ensure
from .validator import PendingRequest, ResponseRefused, response_validate

logger = logging.getLogger(__name__)

# The request in flight lives in its own signed cookie, not in the session: the IdP's POST to the ACS is a
# cross-site request, and the session cookie (SameSite=Lax) does not travel with it.
PENDING_COOKIE = "procedo_spid_request"
PENDING_SALT = "identity.pending"
PENDING_MAX_AGE = 15 * 60

# What the SP must tell the user for each anomaly the IdP reports (SPID technical rules, table of
# "messaggi di anomalia", ErrorCode nr19..nr25).
IDP_ERROR_MESSAGES = {
    19: gettext_lazy("Autenticazione fallita: hai inserito credenziali errate troppe volte."),
    20: gettext_lazy("Non hai credenziali compatibili con il livello di sicurezza richiesto dal servizio."),
    21: gettext_lazy("Il tempo a disposizione per l'autenticazione è scaduto."),
    22: gettext_lazy("Hai negato il consenso all'invio dei dati al servizio."),
    23: gettext_lazy("La tua identità digitale è sospesa o revocata, oppure le credenziali sono bloccate."),
    25: gettext_lazy("Hai annullato l'autenticazione."),
}


def _tenant_for(slug: str | None) -> Tenant | None:
    active = Tenant.objects.filter(is_active=True).defer("coat_of_arms")
    wanted = settings.PROCEDO_SPID_TENANT or slug
    if wanted:
        return active.filter(slug=wanted).first()
    tenants = list(active[:2])
    return tenants[0] if len(tenants) == 1 else None


def _safe_next(request: HttpRequest, value: str | None) -> str:
    if value and url_has_allowed_host_and_scheme(value, allowed_hosts={request.get_host()},
                                                 require_https=request.is_secure()):
        return value
    return reverse("identity:welcome")


@require_GET
def metadata(request: HttpRequest) -> HttpResponse:
    return HttpResponse(metadata_xml("spid"), content_type="application/samlmetadata+xml")


@require_GET
def metadata_cie(request: HttpRequest) -> HttpResponse:
    return HttpResponse(metadata_xml("cie"), content_type="application/samlmetadata+xml")


@require_GET
def choose(request: HttpRequest) -> HttpResponse:
    level = request.GET.get("livello", "SpidL2")
    if level not in LEVELS:
        level = "SpidL2"
    idps = identity_providers()
    return render(request, "identity/choose.html", {
        "spid_idps": [i for i in idps if i.scheme == "spid"],
        "cie_idps": [i for i in idps if i.scheme == "cie"],
        "eidas_idps": [i for i in idps if i.scheme == "eidas"],
        "cns": cns_enabled(),
        "level": level, "next": request.GET.get("next", ""), "ente": request.GET.get("ente", ""),
    })


@require_GET
def login_start(request: HttpRequest) -> HttpResponse:
    idp = identity_provider(request.GET.get("idp", ""))
    if idp is None:
        raise Http404
    level = request.GET.get("livello", "SpidL2")
    if level not in LEVELS:
        level = "SpidL2"
    attribute_index = 0
    if idp.scheme == "eidas":
        attribute_index = 100 if request.GET.get("attributi") == "100" else EIDAS_INDEXES[0]
    relay_state = secrets.token_urlsafe(16)
    outgoing = authn_request_build(idp=idp, level=level, relay_state=relay_state, attribute_index=attribute_index)
    pending = {
        "id": outgoing.request_id, "instant": outgoing.issue_instant, "idp": idp.entity_id, "level": level,
        "comparison": outgoing.comparison, "index": attribute_index, "relay": relay_state,
        "next": _safe_next(request, request.GET.get("next")), "ente": request.GET.get("ente", ""),
    }
    response = redirect(outgoing.redirect_url)
    response.set_cookie(PENDING_COOKIE, signing.dumps(pending, salt=PENDING_SALT), max_age=PENDING_MAX_AGE,
                        httponly=True, secure=request.is_secure(), samesite="None" if request.is_secure() else "Lax",
                        path=reverse("identity:acs"))
    return response


def _refuse(request: HttpRequest, exc: ResponseRefused, tenant: Tenant | None) -> HttpResponse:
    logger.info("SPID response refused: %s", exc)
    if tenant is not None:
        audit_record(tenant=tenant, actor=None, action="login_failed", object_type="identity", object_id="spid",
                     summary=f"Accesso con identità digitale rifiutato: {exc.code}",
                     extra={"code": exc.code, "detail": exc.detail[:300], "idp_error": exc.idp_error},
                     ip=client_ip(request))
    message = IDP_ERROR_MESSAGES.get(exc.idp_error or 0) or _(
        "Non è stato possibile completare l'accesso con l'identità digitale. Riprova.")
    response = render(request, "identity/error.html", {"message": message, "code": exc.code}, status=403)
    response.delete_cookie(PENDING_COOKIE, path=reverse("identity:acs"))
    return response


@csrf_exempt  # the IdP posts here; the signed, session-bound request ID is the protection
@require_POST
def acs(request: HttpRequest) -> HttpResponse:
    try:
        raw = signing.loads(request.COOKIES.get(PENDING_COOKIE, ""), salt=PENDING_SALT, max_age=PENDING_MAX_AGE)
    except signing.BadSignature:
        raw = None
    tenant = _tenant_for(raw.get("ente") if raw else None)
    pending = idp = None
    if raw:
        pending = PendingRequest(request_id=raw["id"], issue_instant=raw["instant"], idp_entity_id=raw["idp"],
                                 level=raw["level"], comparison=raw["comparison"], attribute_index=raw["index"])
        idp = identity_provider(raw["idp"])
    sp = service_provider()
    skew = dt.timedelta(seconds=settings.PROCEDO_SPID_CLOCK_SKEW_SECONDS)
    try:
        assertion = response_validate(
            saml_response=request.POST.get("SAMLResponse", ""), pending=pending, idp=idp, acs_url=sp.acs_url,
            sp_entity_id=sp.entity_id, now=clock.now(), skew=skew,
            assertion_issuer_format_required=idp is None or idp.scheme != "cie",
        )
        if tenant is None:
            raise ResponseRefused("tenant", "no municipality to sign in to")
        assertion_id_consume(assertion=assertion, skew=skew)
        citizen_sign_in(request=request, tenant=tenant, assertion=assertion, scheme=idp.scheme)
    except ResponseRefused as exc:
        return _refuse(request, exc, tenant)
    response = redirect(_safe_next(request, raw.get("next")))
    response.delete_cookie(PENDING_COOKIE, path=reverse("identity:acs"))
    return response


@require_GET
def cns_login(request: HttpRequest) -> HttpResponse:
    """CNS: the client certificate the trusted reverse proxy verified (identity.cns)."""
    from .cns import cns_identity

    if not cns_enabled():
        raise Http404
    tenant = _tenant_for(request.GET.get("ente"))
    try:
        identity = cns_identity(request)
        if tenant is None:
            raise ResponseRefused("tenant", "no municipality to sign in to")
        citizen_sign_in(request=request, tenant=tenant, assertion=identity, scheme="cns")
    except ResponseRefused as exc:
        return _refuse(request, exc, tenant)
    return redirect(_safe_next(request, request.GET.get("next")))


@login_required
@require_GET
def welcome(request: HttpRequest) -> HttpResponse:
    return render(request, "identity/welcome.html", {"level": request.session.get(SESSION_LOA)})


SLO_COOKIE = "procedo_spid_logout"
SLO_SALT = "identity.logout"


@require_POST  # CSRF-protected: nobody else's page can sign a citizen out
def logout_start(request: HttpRequest) -> HttpResponse:
    """Sign out here, then (SAML single logout) ask the IdP to end its session with a signed LogoutRequest.

    The local session ends first: whatever the IdP answers, or if it never answers, this browser is
    signed out of Procedo."""
    session = request.session
    idp = identity_provider(session.get(SESSION_IDP, "")) if request.user.is_authenticated else None
    name_id, index = session.get(SESSION_NAME_ID, ""), session.get(SESSION_INDEX, "")
    if request.user.is_authenticated:
        logout(request)  # audited by accounts.receivers
    if idp is None or not idp.slo_url or not name_id:
        return redirect(settings.LOGOUT_REDIRECT_URL)
    outgoing = logout_request_build(sp=sp_credentials_ensure(), idp=idp, name_id=name_id,
                                    name_qualifier=idp.entity_id, session_index=index,
                                    relay_state=secrets.token_urlsafe(16))
    response = redirect(outgoing.redirect_url)
    response.set_cookie(SLO_COOKIE, signing.dumps({"id": outgoing.request_id, "idp": idp.entity_id,
                                                   "instant": outgoing.issue_instant}, salt=SLO_SALT),
                        max_age=PENDING_MAX_AGE, httponly=True, secure=request.is_secure(),
                        samesite="None" if request.is_secure() else "Lax", path=reverse("identity:slo"))
    return response


def _slo_refused(request: HttpRequest, exc: ResponseRefused) -> HttpResponse:
    logger.info("SAML logout message refused: %s", exc)
    message = _("Il messaggio di uscita del gestore dell'identità digitale non è valido. La sessione su questo "
                "servizio è comunque chiusa.")
    response = render(request, "identity/error.html", {"message": message, "code": exc.code}, status=400)
    response.delete_cookie(SLO_COOKIE, path=reverse("identity:slo"))
    return response


# csrf_exempt: the IdP posts its LogoutResponse here from its own site. What protects this endpoint is
# the IdP's signature (checked against its registered certificates only) and, for a LogoutResponse, the
# ID of the request this browser sent (signed cookie); a message without either is refused.
@csrf_exempt
@require_http_methods(["GET", "POST"])
def slo(request: HttpRequest) -> HttpResponse:
    """Single logout service: the IdP's LogoutResponse to our request, or its own LogoutRequest."""
    params = request.GET if request.method == "GET" else request.POST
    sp = service_provider()
    skew = dt.timedelta(seconds=settings.PROCEDO_SPID_CLOCK_SKEW_SECONDS)
    raw_query = request.META.get("QUERY_STRING", "")
    try:
        if params.get("SAMLResponse"):
            incoming = message_read(method=request.method, params=params, raw_query=raw_query,
                                    param="SAMLResponse", tag="LogoutResponse")
            try:
                pending = signing.loads(request.COOKIES.get(SLO_COOKIE, ""), salt=SLO_SALT, max_age=PENDING_MAX_AGE)
            except signing.BadSignature:
                pending = {}
            logout_response_validate(incoming, pending_id=pending.get("id", ""), pending_idp=pending.get("idp", ""),
                                     pending_instant=pending.get("instant", ""), slo_url=sp.slo_url,
                                     now=clock.now(), skew=skew)
            response = redirect(settings.LOGOUT_REDIRECT_URL)
            response.delete_cookie(SLO_COOKIE, path=reverse("identity:slo"))
            return response
        if params.get("SAMLRequest"):
            incoming = message_read(method=request.method, params=params, raw_query=raw_query,
                                    param="SAMLRequest", tag="LogoutRequest")
            asked = logout_request_validate(incoming, slo_url=sp.slo_url, now=clock.now(), skew=skew)
            success = True
            if request.user.is_authenticated:
                session = request.session
                same = (session.get(SESSION_IDP) == asked.idp.entity_id
                        and session.get(SESSION_NAME_ID) == asked.name_id
                        and (not asked.session_indexes or session.get(SESSION_INDEX) in asked.session_indexes))
                if same:
                    logout(request)
                else:  # another person's session in this browser: not the one the IdP is ending
                    success = False
            return redirect(logout_response_build(sp=sp_credentials_ensure(), idp=asked.idp,
                                                  in_response_to=asked.request_id, success=success,
                                                  relay_state=params.get("RelayState", "")[:80]))
    except ResponseRefused as exc:
        return _slo_refused(request, exc)
    return _slo_refused(request, ResponseRefused("malformed", "no SAML message"))
