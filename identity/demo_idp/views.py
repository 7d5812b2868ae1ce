"""Pages of the demo identity provider: metadata, login form with the fictitious identities, the
auto-posted response. 404 whenever the demo IdP is disabled (always in production)."""

from __future__ import annotations

import base64
from collections.abc import Callable
from functools import wraps

from django.core import signing
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods

from ..idps import demo_idp_enabled
from ..levels import LEVELS, level_number
from ..saml import NS, STATUS_SUCCESS
from ..sp import service_provider
from . import idp

SESSION_COOKIE = "procedo_demo_idp_session"
SESSION_SALT = "identity.demo_idp.session"


def demo_only(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    @wraps(view)
    def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if not demo_idp_enabled():
            raise Http404
        return view(request, *args, **kwargs)

    return wrapped


@demo_only
@require_GET
def metadata(request: HttpRequest) -> HttpResponse:
    return HttpResponse(idp.metadata_xml(), content_type="application/samlmetadata+xml")


def _read(params) -> idp.IncomingRequest:
    try:
        return idp.authn_request_read(saml_request=params.get("SAMLRequest", ""), relay_state=params.get("RelayState"),
                                      sig_alg=params.get("SigAlg", ""), signature=params.get("Signature", ""))
    except idp.BadRequest as exc:
        raise Http404 from exc


@demo_only
@csrf_exempt  # the form carries the SP's signed request, checked again on POST
@require_http_methods(["GET", "POST"])
def sso(request: HttpRequest) -> HttpResponse:
    params = request.GET if request.method == "GET" else request.POST
    incoming = _read(params)
    levels = [name for name in LEVELS if level_number(name) >= level_number(incoming.level)]
    if request.method == "GET":
        return render(request, "identity/demo_idp_login.html", {
            "identities": idp.IDENTITIES, "levels": levels, "requested": incoming.level,
            "params": {k: params.get(k) for k in ("SAMLRequest", "RelayState", "SigAlg", "Signature") if params.get(k)},
        })
    identity = next((i for i in idp.IDENTITIES if i.fiscal_code == request.POST.get("identity")), None)
    level = request.POST.get("level", incoming.level)
    if identity is None or level not in LEVELS:
        raise Http404
    tree = idp.response_tree(request=incoming, identity=identity, level=level)
    issued = {"name_id": tree.findtext("saml:Assertion/saml:Subject/saml:NameID", namespaces=NS),
              "session_index": tree.find("saml:Assertion/saml:AuthnStatement", NS).get("SessionIndex")}
    xml = idp.response_sign(tree)
    response = render(request, "identity/post_form.html", {
        "action": incoming.acs_url, "saml_response": base64.b64encode(xml).decode(),
        "relay_state": request.POST.get("RelayState", ""),
    })
    # The IdP's own session (for IdP-initiated logout): a signed cookie, scoped to the IdP's paths.
    response.set_cookie(SESSION_COOKIE, signing.dumps(issued, salt=SESSION_SALT), httponly=True,
                        secure=request.is_secure(), samesite="Lax", path="/demo-idp/")
    return response


@demo_only
@csrf_exempt  # only signed messages from our SP are acted on
@require_http_methods(["GET"])
def slo(request: HttpRequest) -> HttpResponse:
    """The SP's LogoutRequest (answered with a signed LogoutResponse, HTTP-POST) or its LogoutResponse
    to a logout this IdP started."""
    raw_query = request.META.get("QUERY_STRING", "")
    try:
        if request.GET.get("SAMLRequest"):
            asked = idp.sp_message_read(raw_query=raw_query, params=request.GET, param="SAMLRequest",
                                        tag="LogoutRequest")
            xml = idp.logout_response_build(in_response_to=asked.get("ID", ""))
            response = render(request, "identity/post_form.html", {
                "action": service_provider().slo_url, "saml_response": base64.b64encode(xml).decode(),
                "relay_state": request.GET.get("RelayState", "")[:80],
            })
        else:
            answer = idp.sp_message_read(raw_query=raw_query, params=request.GET, param="SAMLResponse",
                                         tag="LogoutResponse")
            code = answer.find("samlp:Status/samlp:StatusCode", NS)
            response = render(request, "identity/demo_idp_logout.html", {
                "success": code is not None and code.get("Value") == STATUS_SUCCESS})
    except idp.BadRequest as exc:
        raise Http404 from exc
    response.delete_cookie(SESSION_COOKIE, path="/demo-idp/")
    return response


@demo_only
@require_http_methods(["GET", "POST"])
def logout_start(request: HttpRequest) -> HttpResponse:
    """IdP-initiated single logout: the page offers it, the POST sends the signed LogoutRequest to the SP."""
    try:
        issued = signing.loads(request.COOKIES.get(SESSION_COOKIE, ""), salt=SESSION_SALT)
    except signing.BadSignature:
        issued = None
    if request.method == "GET" or issued is None:
        return render(request, "identity/demo_idp_logout.html", {"start": True, "session": issued is not None})
    return redirect(idp.logout_request_url(name_id=issued["name_id"], session_index=issued["session_index"]))
