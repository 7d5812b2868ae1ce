"""Pages of the demo identity provider: metadata, login form with the fictitious identities, the
auto-posted response. 404 whenever the demo IdP is disabled (always in production)."""

from __future__ import annotations

import base64
from collections.abc import Callable
from functools import wraps

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods

from ..idps import demo_idp_enabled
from ..levels import LEVELS, level_number
from . import idp


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
    xml = idp.response_build(request=incoming, identity=identity, level=level)
    return render(request, "identity/post_form.html", {
        "action": incoming.acs_url, "saml_response": base64.b64encode(xml).decode(),
        "relay_state": request.POST.get("RelayState", ""),
    })
