"""Certificates at the counter: from the person sheet, choose the certificate, the use (stamp-duty
exemption or the stamps) and the copies; issue; download the sealed PDFs.

Who: the tenant's registrars, civil registrars and supervisors, each offered the certificates
their role may issue (civil registrars: the civil-status ones); anybody else, and any id of another
municipality, gets 404. From an act sheet (`?atto=<id>`) the page offers that act's certificates. Issuing is audited by the service; showing and downloading are audited reads.
"""

from __future__ import annotations

import uuid

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from accounts.selectors import roles_for
from audit.events import record_read
from audit.services import client_ip
from common.errors import ProcedoError, ValidationFailed
from common.pages import int_or_404, page_tenant
from documents import storage

from .certificates import payments, selectors, services
from .certificates.catalogue import CATALOGUE
from .certificates.models import Certificate, CounterPaymentStatus, CounterStampPayment, StampMode
from .models import Person


def _issuer(request: HttpRequest):
    tenant = page_tenant(request)
    if not roles_for(user=request.user, tenant=tenant) & services.ISSUER_ROLES:
        raise Http404
    return tenant


def _issuable(roles) -> list[str]:
    return [k.code for k in CATALOGUE.values() if roles & k.issuers]


def _form(request: HttpRequest) -> dict:
    post = request.POST
    return {
        "kind": (post.get("kind") or "")[:50],
        "use": (post.get("use") or "")[:10],
        "use_note": (post.get("use_note") or "")[:200],
        "copies": (post.get("copies") or "1")[:3],
        "stamp_ids": "\n".join(s.strip()[:60] for s in (post.get("stamp_ids") or "").splitlines()[:20] if s.strip()),
        "request_id": (post.get("request_id") or "")[:40],
        "act": (post.get("act") or "")[:20],
        "payer_fiscal_code": (post.get("payer_fiscal_code") or "").strip()[:20],
        "payer_name": (post.get("payer_name") or "").strip()[:140],
    }


@login_required
@require_http_methods(["GET", "POST"])
def certificate_counter(request: HttpRequest, person_id) -> HttpResponse:
    tenant = _issuer(request)
    person = Person.objects.for_tenant(tenant).filter(pk=int_or_404(person_id)).first()
    if person is None:
        raise Http404
    error, status = "", 200
    form = {"kind": "", "use": "", "use_note": "", "copies": "1", "stamp_ids": "", "request_id": str(uuid.uuid4()),
            "act": (request.GET.get("atto") or "")[:20], "payer_fiscal_code": "", "payer_name": ""}
    if form["act"]:
        form["use"] = "statutory"  # an act's certificates are exempt by law
    if request.method == "POST":
        form = _form(request)
    act_id = int_or_404(form["act"]) if form["act"] else None
    act_kind = selectors.act_kind_of(tenant=tenant, act_id=act_id) if act_id else None
    if act_id and act_kind is None:
        raise Http404
    roles = roles_for(user=request.user, tenant=tenant)
    kinds = [k for k in CATALOGUE.values() if roles & k.issuers and (act_kind is None or k.act_kind == act_kind)]
    if request.method == "POST":
        use = form["use"]
        try:
            try:
                request_id = uuid.UUID(form["request_id"])
                copies = int(form["copies"])
            except ValueError:
                raise ValidationFailed(_("Richiesta non valida: ricarica la pagina.")) from None
            if use == StampMode.PAGOPA:  # the citizen pays a pagoPA notice; issued once paid
                payment = payments.counter_payment_create(
                    tenant=tenant, user=request.user, person_id=person.pk, kind=form["kind"], copies=copies,
                    request_id=request_id, payer_fiscal_code=form["payer_fiscal_code"], payer_name=form["payer_name"],
                    ip=client_ip(request))
                return redirect("registry_certificate_payment", person.pk, payment.pk)
            exempt = use not in ("", "statutory", StampMode.PHYSICAL, StampMode.VIRTUAL, StampMode.PAGOPA)
            issued = services.certificate_issue(
                tenant=tenant, user=request.user, person_id=person.pk, kind=form["kind"], copies=copies,
                use_code=int(use) if exempt and use.isdigit() else None, use_note=form["use_note"],
                stamp_mode=StampMode.EXEMPT if exempt else ("" if use == "statutory" else use),
                stamp_ids=form["stamp_ids"].splitlines(), request_id=request_id, ip=client_ip(request), act_id=act_id)
            return redirect(f"{request.path}?rilascio={issued[0].request_id}")
        except ProcedoError as exc:
            error, status = exc.message, 400
    just_issued = (request.GET.get("rilascio") or "")[:40]
    # a civil registrar sees (and downloads) only the certificates their role issues
    certificates = list(selectors.certificates_of(tenant=tenant, person_id=person.pk)
                        .filter(kind__in=_issuable(roles))[:50])
    awaiting = list(CounterStampPayment.objects.for_tenant(tenant)
                    .filter(person=person, status=CounterPaymentStatus.AWAITING_PAYMENT, kind__in=_issuable(roles))
                    .select_related("position")[:20])
    record_read(tenant=tenant, user=request.user, ip=client_ip(request), object_type="registry_person",
                object_id=str(person.pk), object_repr=f"{person} {person.fiscal_code}".strip())
    return render(request, "registry/certificates/counter.html", {
        "nav": "registry", "person": person, "kinds": kinds, "form": form, "error": error, "act_id": act_id,
        "exemptions": services.exemption_choices(), "certificates": certificates, "just_issued": just_issued,
        "max_copies": services.MAX_COPIES, "awaiting": awaiting,
    }, status=status)


@login_required
@require_GET
def certificate_pdf(request: HttpRequest, person_id, certificate_id) -> HttpResponse:
    tenant = _issuer(request)
    roles = roles_for(user=request.user, tenant=tenant)
    cert = (Certificate.objects.for_tenant(tenant).filter(pk=int_or_404(certificate_id), person_id=int_or_404(person_id),
                                                          kind__in=_issuable(roles))
            .select_related("document").first())
    if cert is None:
        raise Http404
    record_read(tenant=tenant, user=request.user, ip=client_ip(request), object_type="certificate",
                object_id=str(cert.pk), object_repr=cert.document.filename)
    response = HttpResponse(storage.get(cert.document.sha256), content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{cert.document.filename}"'
    response["X-Content-Type-Options"] = "nosniff"
    return response


def _payment(request: HttpRequest, person_id, payment_id):
    tenant = _issuer(request)
    roles = roles_for(user=request.user, tenant=tenant)
    try:
        payment = payments.counter_payment_get(tenant=tenant, person_id=int_or_404(person_id),
                                               payment_id=int_or_404(payment_id))
    except ProcedoError:
        raise Http404 from None
    if payment.kind not in _issuable(roles):
        raise Http404
    return tenant, payment


@login_required
@require_http_methods(["GET", "POST"])
def certificate_payment(request: HttpRequest, person_id, payment_id) -> HttpResponse:
    """The stamp duty of a counter certificate paid through pagoPA: the notice to hand over, its
    state, and "check the payment and issue" (POST); once issued, back to the counter's list."""
    tenant, payment = _payment(request, person_id, payment_id)
    error, status = "", 200
    if request.method == "POST":
        try:
            issued = payments.counter_payment_release(tenant=tenant, user=request.user, payment_id=payment.pk,
                                                      ip=client_ip(request))
            return redirect(f"{reverse('registry_certificates', args=[payment.person_id])}"
                            f"?rilascio={issued[0].request_id}")
        except ProcedoError as exc:
            error, status = exc.message, 409 if exc.code == "stamp_not_paid" else 400
    person = payment.person
    record_read(tenant=tenant, user=request.user, ip=client_ip(request), object_type="registry_person",
                object_id=str(person.pk), object_repr=f"{person} {person.fiscal_code}".strip())
    return render(request, "registry/certificates/payment.html", {
        "nav": "registry", "person": person, "payment": payment, "position": payment.position,
        "kind": CATALOGUE[payment.kind], "error": error,
        "amount": f"{payment.position.amount_cents / 100:.2f}".replace(".", ","),
    }, status=status)


@login_required
@require_GET
def certificate_payment_notice(request: HttpRequest, person_id, payment_id) -> HttpResponse:
    tenant, payment = _payment(request, person_id, payment_id)
    response = HttpResponse(payments.notice_pdf(tenant=tenant, payment=payment), content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="avviso-{payment.position.notice_number}.pdf"'
    response["X-Content-Type-Options"] = "nosniff"
    return response
