"""Refunds of payments that arrived after their case ended: an officer proposes, a different
supervisor approves, the treasury's transfer is recorded; every step audited; refusals shown on the page."""

from __future__ import annotations

import pytest

from accounts.roles import Role
from audit.models import AuditEvent
from common.errors import Conflict, PermissionRefused, ValidationFailed
from payments import services
from payments.models import Refund, RefundStatus
from tests.factories import make_user
from tests.payments.test_payments_page import client_for, payments  # noqa: F401 - the shared fixture

pytestmark = pytest.mark.django_db

IBAN = "IT60 X054 2811 1010 0000 0123 456"


def propose(office, **extra):
    return services.refund_request(tenant=office["tenant"], user=office["civil_registrar"],
                                   position_id=office["unmatched"].pk, iban=extra.pop("iban", IBAN),
                                   reason=extra.pop("reason", "Pagato dopo l'annullamento della pratica"), **extra)


def test_an_officer_proposes_a_supervisor_approves_and_the_transfer_is_recorded_each_step_audited(payments):  # noqa: F811
    refund = propose(payments)
    assert (refund.status, refund.amount_cents, refund.payee_iban) == ("requested", 1600, IBAN.replace(" ", ""))
    refund = services.refund_decide(tenant=payments["tenant"], user=payments["supervisor"], refund_id=refund.pk,
                                    approve=True)
    assert refund.status == RefundStatus.APPROVED and refund.decided_by == payments["supervisor"]
    refund = services.refund_mark_paid(tenant=payments["tenant"], user=payments["supervisor"], refund_id=refund.pk,
                                       transfer_reference="TRN 0306912345678901")
    assert refund.status == RefundStatus.PAID and refund.transfer_reference == "TRN 0306912345678901"
    events = list(AuditEvent.objects.filter(object_type="refund", object_id=str(refund.pk)).order_by("pk"))
    assert [(e.action, e.actor_id) for e in events] == [
        ("create", payments["civil_registrar"].pk), ("update", payments["supervisor"].pk),
        ("update", payments["supervisor"].pk)]
    assert [e.after.get("status") for e in events[1:]] == ["approved", "paid"]
    assert events[0].after["iban"] == IBAN.replace(" ", "")


def test_the_proposer_cannot_approve_their_own_refund_even_as_supervisor(payments):  # noqa: F811
    refund = services.refund_request(tenant=payments["tenant"], user=payments["supervisor"],
                                     position_id=payments["unmatched"].pk, iban=IBAN, reason="Pagato due volte")
    with pytest.raises(PermissionRefused) as info:
        services.refund_decide(tenant=payments["tenant"], user=payments["supervisor"], refund_id=refund.pk,
                               approve=True)
    assert info.value.code == "four_eyes"
    other = make_user(payments["tenant"], Role.SUPERVISOR, username="secondo-responsabile")
    assert services.refund_decide(tenant=payments["tenant"], user=other, refund_id=refund.pk,
                                  approve=True).status == RefundStatus.APPROVED


def test_only_a_supervisor_approves_and_a_rejection_needs_a_reason(payments):  # noqa: F811
    refund = propose(payments)
    with pytest.raises(PermissionRefused):
        services.refund_decide(tenant=payments["tenant"], user=payments["registrar"], refund_id=refund.pk, approve=True)
    with pytest.raises(ValidationFailed):
        services.refund_decide(tenant=payments["tenant"], user=payments["supervisor"], refund_id=refund.pk,
                               approve=False)
    services.refund_decide(tenant=payments["tenant"], user=payments["supervisor"], refund_id=refund.pk,
                           approve=False, note="Il pagatore ha chiesto di usarlo per una nuova richiesta")
    with pytest.raises(Conflict):  # decided already; nor can a rejected one be transferred
        services.refund_mark_paid(tenant=payments["tenant"], user=payments["supervisor"], refund_id=refund.pk,
                                  transfer_reference="TRN 123456")
    # Rejected: a new proposal for the same payment is possible.
    assert propose(payments).status == RefundStatus.REQUESTED


@pytest.mark.parametrize("key", ["to_pay", "paid", "to_invalidate", "other_tenant"])
def test_only_a_payment_that_arrived_after_the_case_ended_is_refunded(payments, key):  # noqa: F811
    with pytest.raises((Conflict, services.NotFound)):
        services.refund_request(tenant=payments["tenant"], user=payments["civil_registrar"],
                                position_id=payments[key].pk, iban=IBAN, reason="Rimborso")
    assert Refund.objects.count() == 0


def test_a_payment_is_refunded_once(payments):  # noqa: F811
    propose(payments)
    with pytest.raises(Conflict) as info:
        propose(payments)
    assert info.value.code == "already_refunded"


@pytest.mark.parametrize("iban", ["IT60X0542811101000000123457", "IT60X05428111010000001234", "1234", "<script>"])
def test_a_wrong_iban_is_refused(payments, iban):  # noqa: F811
    with pytest.raises(ValidationFailed) as info:
        propose(payments, iban=iban)
    assert "iban" in info.value.details and Refund.objects.count() == 0


def test_the_page_proposes_and_approves_and_shows_refusals_in_italian(payments):  # noqa: F811
    officer = client_for(payments["civil_registrar"])
    page = officer.get("/pagamenti/?stato=unmatched")
    assert "Proponi il rimborso" in page.content.decode()
    response = officer.post(f"/pagamenti/{payments['unmatched'].pk}/rimborso/", {"iban": "IT00", "reason": "Pagato dopo la chiusura"})
    assert response.status_code == 302 and Refund.objects.count() == 0
    assert "IBAN non valido" in officer.get(response["Location"]).content.decode()
    response = officer.post(f"/pagamenti/{payments['unmatched'].pk}/rimborso/",
                            {"iban": IBAN, "reason": "Pagato dopo l'annullamento"})
    refund = Refund.objects.get()
    assert response.status_code == 302 and refund.status == RefundStatus.REQUESTED
    # The officer cannot decide; the supervisor sees the refund to approve and approves it.
    officer.post(f"/pagamenti/rimborsi/{refund.pk}/decidi/", {"decision": "approve"})
    assert Refund.objects.get().status == RefundStatus.REQUESTED
    supervisor = client_for(payments["supervisor"])
    assert "Rimborsi in corso" in supervisor.get("/pagamenti/").content.decode()
    supervisor.post(f"/pagamenti/rimborsi/{refund.pk}/decidi/", {"decision": "approve"})
    supervisor.post(f"/pagamenti/rimborsi/{refund.pk}/bonifico/", {"transfer_reference": "TRN 99887766"})
    assert Refund.objects.get().status == RefundStatus.PAID
    assert supervisor.get(f"/pagamenti/rimborsi/{refund.pk}/bonifico/").status_code == 405
    assert supervisor.post("/pagamenti/rimborsi/abc/decidi/").status_code == 404
