"""What a person does on the payments page (business rules; queries are in selectors)."""

from __future__ import annotations

from django.db import transaction
from django.utils.translation import gettext as _

from accounts.roles import Role
from accounts.selectors import roles_for
from audit.services import audit_record
from cases.models import Case, CaseStatus
from cases.payments import INVALIDATE_OPERATION, open_positions_of
from common import clock
from common.errors import Conflict, NotFound, PermissionRefused
from connectors.pagopa.models import DebtPosition
from engine.services import outbox_enqueue_detached

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
