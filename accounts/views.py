"""The user's own password change and a municipality's public coat of arms.

Tenant administration (users and roles, incidents, templates) lives in the backoffice app, which
sits above accounts, cases and documents: accounts imports neither (tests/accounts/test_layering.py).
"""

from __future__ import annotations

import logging

from django.contrib import messages
from django.contrib.auth import update_session_auth_hash
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import PasswordChangeForm
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods

from audit.services import client_ip
from common.pages import int_or_404 as _int

from . import services
from .models import Tenant

logger = logging.getLogger(__name__)


@login_required
@never_cache
@require_http_methods(["GET", "POST"])
def password_change(request: HttpRequest) -> HttpResponse:
    form = PasswordChangeForm(request.user, request.POST or None)
    if request.method == "POST":
        if form.is_valid():
            services.own_password_change(
                user=request.user, new_password=form.cleaned_data["new_password1"],
                tenant=getattr(request, "tenant", None) or None, ip=client_ip(request),
            )
            update_session_auth_hash(request, request.user)
            messages.success(request, _("Password cambiata."))
            return redirect("inbox")
        logger.info("password change refused for %s: %s", request.user.pk, sorted(form.errors))
    return render(request, "registration/password_change.html", {"form": form, "forced": request.user.must_change_password})


@require_GET
def tenant_coat_of_arms(request: HttpRequest, pk: str) -> HttpResponse:
    """A municipality's coat of arms (public: it is on every deed), cached by the browser."""
    tenant = Tenant.objects.filter(pk=_int(pk), is_active=True).only(
        "coat_of_arms", "coat_of_arms_mime", "coat_of_arms_updated_at").first()
    if tenant is None or not tenant.coat_of_arms_mime:
        raise Http404
    response = HttpResponse(bytes(tenant.coat_of_arms), content_type=tenant.coat_of_arms_mime)
    response["Cache-Control"] = "public, max-age=86400"
    response["X-Content-Type-Options"] = "nosniff"
    return response
