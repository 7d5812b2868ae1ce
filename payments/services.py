"""What a person does on the payments page (business rules; queries are in selectors)."""

from __future__ import annotations

import re

from django.db import transaction
from django.utils.translation import gettext as _

from accounts.roles import Role
from accounts.selectors import roles_for
from audit.services import audit_record
from cases.models import Case, CaseStatus
from cases.payments import INVALIDATE_OPERATION, open_positions_of
from common import clock
from common.errors import Conflict, NotFound, PermissionRefused, ValidationFailed
from connectors.pagopa.models import DebtPosition
from engine.services import outbox_enqueue_detached

from .models import Refund, RefundStatus

# Who reads the tenant's payments: the officers who create notices and the supervisor.
READER_ROLES = frozenset({Role.SUPERVISOR, Role.CIVIL_REGISTRAR, Role.REGISTRAR})
# Who asks pagoPA again to invalidate a notice of an ended case.
ACTOR_ROLES = frozenset({Role.SUPERVISOR})


def require_reader(*, user, tenant) -> frozenset[str]:
    roles = roles_for(user=user, tenant=tenant)
    if not roles & READER_ROLES:
        raise PermissionRefused(_("La pagina dei pagamenti è riservata agli ufficiali e al responsabile."))
    return roles


def request_invalidation(*, tenant, user, position_id: int) -> DebtPosition:
    """Queue again the invalidation on pagoPA of an unpaid notice whose case has ended (the
    automatic one failed, or the notice was created after the case ended)."""
    if not roles_for(user=user, tenant=tenant) & ACTOR_ROLES:
        raise PermissionRefused(_("Solo il responsabile può chiedere l'annullamento su pagoPA."))
    with transaction.atomic():
        position = DebtPosition.objects.select_for_update().filter(tenant=tenant, pk=position_id).first()
        if position is None:
            raise NotFound(_("Posizione debitoria non trovata."))
        case = Case.objects.filter(tenant=tenant, pk=position.case_id).first() if position.case_id else None
        if case is None or case.instance_id is None:
            raise Conflict(_("La posizione non appartiene a una pratica: va annullata dal portale pagoPA."),
                           code="no_case")
        if case.status == CaseStatus.OPEN:
            raise Conflict(_("La pratica è ancora aperta: l'avviso resta pagabile."), code="case_open")
        if not open_positions_of(case.pk).filter(pk=position.pk).exists():
            raise Conflict(_("L'avviso è già pagato o annullato."), code="not_payable")
        attempt = clock.now().strftime("%Y%m%d%H%M%S%f")
        outbox_enqueue_detached(instance_id=case.instance_id, operation=INVALIDATE_OPERATION,
                                params={"iupd": position.iupd}, key=f"pagopa-invalidate-{position.pk}-{attempt}")
        audit_record(
            tenant=tenant, actor=user, action="payment.invalidate", object_type="case",
            object_id=str(case.pk), object_repr=case.number,
            summary=_("Chiesto l'annullamento su pagoPA dell'avviso %(n)s") % {"n": position.notice_number},
            extra={"iupd": position.iupd, "notice_number": position.notice_number},
        )
    return position


# --------------------------------------------------------------------------- refunds (four eyes)

# Who proposes a refund: the officers who work the payments; who approves it: a supervisor who
# did not propose it.
REFUND_PROPOSER_ROLES = READER_ROLES
REFUND_APPROVER_ROLES = frozenset({Role.SUPERVISOR})


def _iban(value: str) -> str:
    """The IBAN in its electronic form, checked (ISO 13616 mod 97; an Italian one is 27 characters)."""
    iban = "".join(str(value or "").split()).upper()
    valid = re.fullmatch(r"[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}", iban) is not None
    if valid and iban.startswith("IT") and len(iban) != 27:
        valid = False
    if valid:
        digits = "".join(str(int(c, 36)) for c in iban[4:] + iban[:4])
        valid = int(digits) % 97 == 1
    if not valid:
        raise ValidationFailed(_("IBAN non valido."), details={"iban": [_("Controllare l'IBAN del pagatore.")]})
    return iban


def refund_request(*, tenant, user, position_id: int, iban: str, reason: str, ip: str | None = None) -> Refund:
    """Propose to give back a payment that arrived after its case ended (listed as "pagato dopo la
    chiusura"). The whole amount, once: a second proposal for the same payment is refused."""
    if not roles_for(user=user, tenant=tenant) & REFUND_PROPOSER_ROLES:
        raise PermissionRefused(_("Il tuo ruolo non consente di proporre rimborsi."))
    reason = str(reason or "").strip()
    if len(reason) < 5 or len(reason) > 1000:
        raise ValidationFailed(_("Indicare il motivo del rimborso (da 5 a 1000 caratteri)."),
                               details={"reason": [_("Campo obbligatorio.")]})
    payee_iban = _iban(iban)
    with transaction.atomic():
        position = DebtPosition.objects.select_for_update().filter(tenant=tenant, pk=position_id).first()
        if position is None:
            raise NotFound(_("Posizione debitoria non trovata."))
        if position.paid_at is None or position.unmatched_at is None:
            raise Conflict(_("Si rimborsa solo un pagamento arrivato dopo la chiusura della pratica."),
                           code="not_refundable")
        if Refund.objects.filter(position=position).exclude(status=RefundStatus.REJECTED).exists():
            raise Conflict(_("Per questo pagamento c'è già un rimborso."), code="already_refunded")
        refund = Refund.objects.create(tenant=tenant, position=position, amount_cents=position.amount_cents,
                                       reason=reason, payee_iban=payee_iban, requested_by=user,
                                       requested_at=clock.now())
        audit_record(
            tenant=tenant, actor=user, action="create", object_type="refund",
            object_id=str(refund.pk), object_repr=position.notice_number, ip=ip,
            summary=_("Proposto il rimborso dell'avviso %(n)s") % {"n": position.notice_number},
            after={"amount_cents": refund.amount_cents, "reason": reason, "iban": payee_iban,
                   "case_number": position.case_number},
        )
    return refund


def refund_decide(*, tenant, user, refund_id: int, approve: bool, note: str = "", ip: str | None = None) -> Refund:
    """A supervisor approves or rejects a proposed refund; never the person who proposed it."""
    if not roles_for(user=user, tenant=tenant) & REFUND_APPROVER_ROLES:
        raise PermissionRefused(_("Solo il responsabile approva i rimborsi."))
    note = str(note or "").strip()[:1000]
    if not approve and len(note) < 5:
        raise ValidationFailed(_("Indicare perché il rimborso è respinto."), details={"note": [_("Campo obbligatorio.")]})
    with transaction.atomic():
        refund = Refund.objects.select_for_update().filter(tenant=tenant, pk=refund_id).first()
        if refund is None:
            raise NotFound(_("Rimborso non trovato."))
        if refund.requested_by_id == user.pk:
            raise PermissionRefused(_("Chi ha proposto il rimborso non può approvarlo: serve un altro responsabile."),
                                    code="four_eyes")
        if refund.status != RefundStatus.REQUESTED:
            raise Conflict(_("Il rimborso è già stato deciso."), code="already_decided")
        before = refund.status
        refund.status = RefundStatus.APPROVED if approve else RefundStatus.REJECTED
        refund.decided_by, refund.decided_at, refund.decision_note = user, clock.now(), note
        refund.save(update_fields=["status", "decided_by", "decided_at", "decision_note"])
        audit_record(
            tenant=tenant, actor=user, action="update", object_type="refund",
            object_id=str(refund.pk), object_repr=refund.position.notice_number, ip=ip,
            summary=(_("Approvato il rimborso dell'avviso %(n)s") if approve
                     else _("Respinto il rimborso dell'avviso %(n)s")) % {"n": refund.position.notice_number},
            before={"status": before}, after={"status": refund.status, "note": note},
        )
    return refund


def refund_mark_paid(*, tenant, user, refund_id: int, transfer_reference: str, ip: str | None = None) -> Refund:
    """Record the treasury's bank transfer of an approved refund (its CRO/TRN reference)."""
    if not roles_for(user=user, tenant=tenant) & REFUND_APPROVER_ROLES:
        raise PermissionRefused(_("Solo il responsabile registra il bonifico del rimborso."))
    reference = str(transfer_reference or "").strip()
    if not re.fullmatch(r"[A-Za-z0-9/\-. ]{5,60}", reference):
        raise ValidationFailed(_("Riferimento del bonifico (CRO/TRN) non valido."),
                               details={"transfer_reference": [_("Da 5 a 60 lettere o cifre.")]})
    with transaction.atomic():
        refund = Refund.objects.select_for_update().filter(tenant=tenant, pk=refund_id).first()
        if refund is None:
            raise NotFound(_("Rimborso non trovato."))
        if refund.status != RefundStatus.APPROVED:
            raise Conflict(_("Si registra il bonifico solo di un rimborso approvato."), code="not_approved")
        refund.status, refund.transfer_reference, refund.paid_at = RefundStatus.PAID, reference, clock.now()
        refund.save(update_fields=["status", "transfer_reference", "paid_at"])
        audit_record(
            tenant=tenant, actor=user, action="update", object_type="refund",
            object_id=str(refund.pk), object_repr=refund.position.notice_number, ip=ip,
            summary=_("Registrato il bonifico del rimborso dell'avviso %(n)s") % {"n": refund.position.notice_number},
            before={"status": RefundStatus.APPROVED}, after={"status": RefundStatus.PAID, "reference": reference},
        )
    return refund
