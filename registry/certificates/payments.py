"""Stamp duty paid through pagoPA for a certificate asked at the counter.

The citizen is at the counter and wants a stamped certificate but has no contrassegno: the
operator creates a pagoPA position (16 euro per copy, the same "fee" position as the citizen
area's certificates, see portal/README.md) and hands over the payment notice (pagoPA QR code);
the citizen pays (app, bank, PSP); the certificate is issued when pagoPA says the position is paid,
by the operator's "check and issue" or by the beat job for citizens who come back later. Nothing
is issued before the payment; a certificate the register cannot support is refused before any
payment is asked.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid

from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from accounts.models import Tenant, User
from accounts.selectors import roles_for
from audit.services import audit_record
from common import clock
from common.errors import Conflict, NotFound, PermissionRefused, ProcedoError, ValidationFailed

from .. import fiscal_code as cf
from .catalogue import CATALOGUE
from .models import Certificate, CounterPaymentStatus, CounterStampPayment, StampMode
from .services import ISSUER_ROLES, MAX_COPIES, STAMP_DUTY_CENTS, certificate_issuable, certificate_issue

logger = logging.getLogger(__name__)

PAYMENT_DAYS = 30  # due date of the notice; an unpaid notice simply lapses (nothing was issued)


def _idempotency_key(request_id: uuid.UUID) -> str:
    # registry.certificates.services._stamp_paid_by_pagopa accepts only the position of its own request
    return f"counter-certificate:{request_id}"


def _issuer(*, tenant: Tenant, user: User, kind: str):
    roles = roles_for(user=user, tenant=tenant)
    if not roles & ISSUER_ROLES:
        raise PermissionRefused(_("Il tuo ruolo non consente di rilasciare certificati."))
    spec = CATALOGUE.get(kind)
    if spec is None:
        raise ValidationFailed(_("Certificato non previsto."), details={"kind": [str(kind)[:50]]})
    if not roles & spec.issuers:
        raise PermissionRefused(_("Il tuo ruolo non consente di rilasciare questo certificato."))
    return spec


def counter_payment_create(*, tenant: Tenant, user: User, person_id: int, kind: str, copies: int,
                           request_id: uuid.UUID, payer_fiscal_code: str = "", payer_name: str = "",
                           ip: str | None = None) -> CounterStampPayment:
    """Ask the stamp duty of a counter certificate through pagoPA: one position of 16 euro per copy,
    payable by the person (or by the payer named, e.g. a parent at the counter). Idempotent on
    `request_id` (the counter form's): sending the form twice creates one notice."""
    from connectors.pagopa.models import DebtPosition
    from connectors.pagopa.service import debt_position_create

    from ..models import Person

    spec = _issuer(tenant=tenant, user=user, kind=kind)
    done = CounterStampPayment.objects.for_tenant(tenant).filter(request_id=request_id).first()
    if done is not None:
        return done
    if spec.stamp_exemption:
        raise ValidationFailed(_("Certificati ed estratti di stato civile sono esenti dall'imposta di bollo: non va "
                                 "applicato né pagato alcun bollo."), code="stamp_not_due",
                               details={"use": [_("Bollo non dovuto.")]})
    if not 1 <= copies <= MAX_COPIES:
        raise ValidationFailed(_("Il numero di copie deve essere tra 1 e %(max)s.") % {"max": MAX_COPIES},
                               details={"copies": [_("Numero di copie non valido.")]})
    person = Person.objects.for_tenant(tenant).filter(pk=person_id).first()
    if person is None:
        raise NotFound(_("Persona non trovata."))
    certificate_issuable(tenant=tenant, person_id=person.pk, kind=kind)  # refused before anything is paid
    payer_cf = cf.normalise(payer_fiscal_code or "") or (person.fiscal_code or "").strip().upper()
    payer = " ".join((payer_name or "").split())[:140] if payer_fiscal_code else f"{person.family_name} {person.given_name}"
    if cf.problem(payer_cf) is not None:
        raise ValidationFailed(_("Indica un codice fiscale valido di chi paga l'avviso."), code="payer_invalid",
                               details={"payer_fiscal_code": [_("Codice fiscale non valido.")]})
    if len(payer.strip()) < 3:
        raise ValidationFailed(_("Indica nome e cognome di chi paga l'avviso."), code="payer_invalid",
                               details={"payer_name": [_("Campo obbligatorio.")]})
    # The platform call is outside any transaction (it is idempotent on the key): pagoPA down means
    # an error the operator can retry with the same form, never two notices.
    result = debt_position_create(
        tenant_id=tenant.pk, idempotency_key=_idempotency_key(request_id),
        params={"amount_cents": STAMP_DUTY_CENTS * copies, "kind": "fee",
                "description": f"Imposta di bollo - {spec.title}" + (f" ({copies} copie)" if copies > 1 else ""),
                "debtor_fiscal_code": payer_cf, "debtor_name": payer,
                "due_date": (clock.today() + dt.timedelta(days=PAYMENT_DAYS)).isoformat()})
    position = DebtPosition.objects.get(tenant=tenant, iupd=result["iupd"])
    try:
        with transaction.atomic():
            payment = CounterStampPayment.objects.create(
                tenant=tenant, request_id=request_id, person=person, kind=kind, copies=copies, position=position,
                payer_fiscal_code=payer_cf, payer_name=payer, requested_by=user, created_at=clock.now())
            audit_record(tenant=tenant, actor=user, action="create", object_type="certificate_stamp_payment",
                         object_id=str(payment.pk), object_repr=f"{kind} {person.fiscal_code}"[:200],
                         summary=f"Bollo con pagoPA per {spec.title} ({copies} copie): avviso {position.notice_number}",
                         after={"person": person.pk, "kind": kind, "copies": copies, "notice": position.notice_number,
                                "amount_cents": position.amount_cents, "payer": payer_cf}, ip=ip)
    except IntegrityError:  # the same form sent twice at once
        payment = CounterStampPayment.objects.for_tenant(tenant).get(request_id=request_id)
    return payment


def counter_payment_get(*, tenant: Tenant, person_id: int, payment_id: int) -> CounterStampPayment:
    payment = (CounterStampPayment.objects.for_tenant(tenant).filter(pk=payment_id, person_id=person_id)
               .select_related("position", "person").first())
    if payment is None:
        raise NotFound(_("Richiesta di pagamento non trovata."))
    return payment


def counter_payment_release(*, tenant: Tenant, user: User, payment_id: int, ip: str | None = None,
                            ask_pagopa: bool = True) -> list[Certificate]:
    """Issue the certificate whose stamp duty is paid (asking pagoPA now unless the position is
    already known paid); Conflict while it is not paid. Idempotent: a second call returns the copies."""
    from connectors.pagopa.service import payment_status_get

    payment = CounterStampPayment.objects.for_tenant(tenant).filter(pk=payment_id).select_related("position").first()
    if payment is None:
        raise NotFound(_("Richiesta di pagamento non trovata."))
    _issuer(tenant=tenant, user=user, kind=payment.kind)
    done = list(Certificate.objects.for_tenant(tenant).filter(request_id=payment.request_id).order_by("copy_number"))
    if done:
        _mark_issued(payment)
        return done
    if payment.position.paid_at is None and ask_pagopa:
        payment_status_get(tenant_id=tenant.pk, iupd=payment.position.iupd)  # records paid_at when paid
        payment.position.refresh_from_db()
    if payment.position.paid_at is None:
        raise Conflict(_("Il pagamento dell'avviso %(n)s non risulta ancora: il certificato sarà rilasciato quando "
                         "pagoPA lo conferma.") % {"n": payment.position.notice_number}, code="stamp_not_paid")
    issued = certificate_issue(tenant=tenant, user=user, person_id=payment.person_id, kind=payment.kind,
                               copies=payment.copies, stamp_mode=StampMode.PAGOPA,
                               paid_position_id=payment.position_id, request_id=payment.request_id, ip=ip)
    _mark_issued(payment)
    return issued


def _mark_issued(payment: CounterStampPayment) -> None:
    CounterStampPayment.objects.filter(pk=payment.pk, status=CounterPaymentStatus.AWAITING_PAYMENT).update(
        status=CounterPaymentStatus.ISSUED, issued_at=clock.now())


def counter_payments_paid_issue(*, limit: int = 100) -> int:
    """Beat job: issue the counter certificates whose notice was paid after the citizen left (the
    payments poller records paid positions); issued in the name of the operator who asked it."""
    issued = 0
    rows = (CounterStampPayment.objects.filter(status=CounterPaymentStatus.AWAITING_PAYMENT,
                                               position__paid_at__isnull=False, requested_by__isnull=False)
            .select_related("tenant", "requested_by")[:limit])
    for payment in rows:
        try:
            counter_payment_release(tenant=payment.tenant, user=payment.requested_by, payment_id=payment.pk,
                                    ask_pagopa=False)
            issued += 1
        except ProcedoError as exc:  # e.g. the operator lost the role, the person died meanwhile
            logger.warning("counter certificate payment %s not issued: %s", payment.pk, exc)
    return issued


def notice_pdf(*, tenant: Tenant, payment: CounterStampPayment) -> bytes:
    """The pagoPA payment notice handed to the citizen at the counter."""
    from payments.notices import notice_pdf as position_notice_pdf

    return position_notice_pdf(tenant=tenant, position=payment.position,
                               note=_("Il certificato è rilasciato quando il pagamento risulta a pagoPA."))
