# ruff: noqa: F811  (the certificate fixtures are imported from test_certificates)
"""Stamp duty paid through pagoPA for a certificate asked at the counter: the operator chooses
"pagoPA", the citizen gets a notice with the pagoPA QR, the certificate is issued only when the
pagoPA simulator (over HTTP) says the notice is paid; refusals before any notice; isolation."""

from __future__ import annotations

import uuid

import httpx
import pytest
from django.conf import settings as django_settings

from common.errors import Conflict, ValidationFailed
from connectors.base.simulator import SimulatorServer
from connectors.pagopa.models import DebtPosition
from documents import storage
from documents.models import DossierEntry
from documents.verify import verify_pdf
from registry.certificates import payments, services
from registry.certificates.models import CounterPaymentStatus, CounterStampPayment
from registry.models import Certificate
from registry.services import residence_close
from tests.documents.conftest import converter, signer_p12, trust  # noqa: F401  (session fixtures)
from tests.factories import make_user, second_factor_client
from tests.pdf_tools import pdf_qr_codes, pdf_text
from tests.registry.test_certificates import cert_settings, family  # noqa: F401  (fixtures)

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


@pytest.fixture
def pagopa(monkeypatch):
    from connectors.pagopa.simulator import create_app

    server = SimulatorServer(create_app()).start()
    monkeypatch.setattr(django_settings, "PROCEDO_PAGOPA_BASE_URL", server.url)
    monkeypatch.setattr(django_settings, "PROCEDO_PAGOPA_TIMEOUT", "5")
    yield server.url
    server.stop()


def _pay(pagopa_url: str, notice_number: str) -> None:
    assert httpx.post(f"{pagopa_url}/__sim__/pay/{notice_number}").status_code == 200


def test_the_counter_issues_a_stamped_certificate_only_once_the_pagopa_notice_is_paid(
        cert_settings, pagopa, tenant, person, family, registrar, tmp_path):
    client = second_factor_client(registrar)
    url = f"/anagrafe/persone/{person.pk}/certificati/"
    assert "pagamento con pagoPA" in client.get(url).content.decode()
    request_id = str(uuid.uuid4())
    form = {"kind": "residenza", "use": "pagopa", "copies": "2", "request_id": request_id}
    response = client.post(url, form)
    assert response.status_code == 302
    payment = CounterStampPayment.objects.get(tenant=tenant)
    assert response["Location"] == f"{url}pagamenti/{payment.pk}/"
    position = payment.position
    # 16 euro per copy, payable by the person at the counter; nothing issued yet
    assert position.amount_cents == 3200 and position.debtor_fiscal_code == person.fiscal_code
    assert position.idempotency_key == f"counter-certificate:{request_id}"
    assert not Certificate.objects.exists()
    # the same form sent twice: one notice
    assert client.post(url, form)["Location"] == response["Location"]
    assert DebtPosition.objects.count() == 1
    page = client.get(response["Location"]).content.decode()
    assert position.notice_number in page and "32,00" in page and "In attesa del pagamento" in page
    assert position.notice_number in client.get(url).content.decode()  # listed as awaiting on the counter
    # the notice handed to the citizen carries the pagoPA QR code
    notice = client.get(f"{response['Location']}avviso.pdf")
    assert notice.status_code == 200 and notice["Content-Type"] == "application/pdf"
    [decoded] = pdf_qr_codes(notice.content, tmp_path)
    assert decoded == f"PAGOPA|002|{position.notice_number}|{position.organization_fiscal_code}|3200"
    # not paid: the operator's check issues nothing and says why
    refused = client.post(response["Location"])
    assert refused.status_code == 409 and "non risulta ancora" in refused.content.decode()
    assert not Certificate.objects.exists()
    _pay(pagopa, position.notice_number)
    released = client.post(response["Location"])
    assert released.status_code == 302 and released["Location"] == f"{url}?rilascio={request_id}"
    certs = list(Certificate.objects.filter(request_id=request_id).order_by("copy_number"))
    assert [c.copy_number for c in certs] == [1, 2]
    assert all(c.stamp_mode == "pagopa" and c.stamp_id == position.notice_number for c in certs)
    pdf = storage.get(certs[0].document.sha256)
    assert verify_pdf(pdf)[0].intact
    assert f"Imposta di bollo assolta tramite pagoPA, avviso n. {position.notice_number}" in " ".join(
        pdf_text(pdf, tmp_path).split())
    assert DossierEntry.objects.filter(document=certs[0].document, fiscal_code=person.fiscal_code).exists()
    payment.refresh_from_db()
    assert payment.status == CounterPaymentStatus.ISSUED
    # checking again changes nothing
    assert client.post(response["Location"]).status_code == 302
    assert Certificate.objects.count() == 2


def test_a_notice_paid_after_the_citizen_left_is_issued_by_the_beat_job(cert_settings, pagopa, tenant, person,
                                                                         family, registrar):
    from connectors.pagopa.payments import poll_paid_positions

    payment = payments.counter_payment_create(tenant=tenant, user=registrar, person_id=person.pk, kind="cittadinanza",
                                              copies=1, request_id=uuid.uuid4())
    assert payments.counter_payments_paid_issue() == 0
    _pay(pagopa, payment.position.notice_number)
    poll_paid_positions()  # the payments poller (beat) records the payment
    assert payments.counter_payments_paid_issue() == 1
    payment.refresh_from_db()
    assert payment.status == CounterPaymentStatus.ISSUED
    cert = Certificate.objects.get(request_id=payment.request_id)
    assert cert.issued_by == registrar and cert.stamp_id == payment.position.notice_number
    assert payments.counter_payments_paid_issue() == 0


def test_nothing_is_asked_to_pay_for_a_certificate_that_would_be_refused_or_is_exempt(
        cert_settings, pagopa, tenant, person, family, registrar):
    def ask(kind="residenza", **kw):
        return payments.counter_payment_create(tenant=tenant, user=registrar, person_id=person.pk, kind=kind,
                                               copies=kw.pop("copies", 1), request_id=uuid.uuid4(), **kw)

    with pytest.raises(ValidationFailed) as exc:
        ask(kind="estratto_nascita")  # civil-status extracts are exempt by law
    assert exc.value.code == "stamp_not_due"
    with pytest.raises(ValidationFailed):
        ask(copies=11)
    with pytest.raises(ValidationFailed) as exc:
        ask(payer_fiscal_code="RSSMRA80A01H501X", payer_name="Rossi Mario")  # wrong check character
    assert exc.value.code == "payer_invalid"
    residence_close(tenant=tenant, actor=None, person_id=person.pk, end_date=person.birth_date.replace(year=2024),
                    closing_event="departure")
    with pytest.raises(services.CertificateRefused):
        ask()  # not resident: refused before any notice
    assert not DebtPosition.objects.exists()


def test_a_payer_other_than_the_person_is_the_notices_debtor(cert_settings, pagopa, tenant, person, family,
                                                            registrar):
    payment = payments.counter_payment_create(tenant=tenant, user=registrar, person_id=person.pk, kind="residenza",
                                              copies=1, request_id=uuid.uuid4(), payer_fiscal_code="bncnna82b41h501s",
                                              payer_name="  Anna   Bianchi ")
    assert payment.position.debtor_fiscal_code == "BNCNNA82B41H501S"
    assert payment.position.debtor_name == "Anna Bianchi"


def test_only_the_position_of_the_same_request_pays_a_certificate(cert_settings, pagopa, tenant, person, family,
                                                                  registrar):
    payment = payments.counter_payment_create(tenant=tenant, user=registrar, person_id=person.pk, kind="residenza",
                                              copies=1, request_id=uuid.uuid4())
    _pay(pagopa, payment.position.notice_number)
    payments.counter_payment_release(tenant=tenant, user=registrar, payment_id=payment.pk)
    # the paid notice cannot pay a second certificate, whatever request id is sent with it
    with pytest.raises(ValidationFailed) as exc:
        services.certificate_issue(tenant=tenant, user=registrar, person_id=person.pk, kind="residenza",
                                   stamp_mode="pagopa", paid_position_id=payment.position_id, request_id=uuid.uuid4())
    assert exc.value.code == "stamp_used"
    unpaid = payments.counter_payment_create(tenant=tenant, user=registrar, person_id=person.pk, kind="residenza",
                                             copies=1, request_id=uuid.uuid4())
    with pytest.raises(Conflict):
        payments.counter_payment_release(tenant=tenant, user=registrar, payment_id=unpaid.pk)
    assert Certificate.objects.count() == 1


def test_other_municipalities_and_other_roles_never_see_a_payment(cert_settings, pagopa, tenant, other_tenant, person,
                                                                  family, registrar):
    payment = payments.counter_payment_create(tenant=tenant, user=registrar, person_id=person.pk, kind="residenza",
                                              copies=1, request_id=uuid.uuid4())
    url = f"/anagrafe/persone/{person.pk}/certificati/pagamenti/{payment.pk}/"
    for user in (make_user(other_tenant, "registrar"), make_user(tenant, "viewer")):
        client = second_factor_client(user)
        assert client.get(url).status_code == 404
        assert client.get(f"{url}avviso.pdf").status_code == 404
        assert client.post(url).status_code == 404
    # the payment of one person is not reachable under another person's sheet
    other = family.members.exclude(person=person).first().person
    assert second_factor_client(registrar).get(
        f"/anagrafe/persone/{other.pk}/certificati/pagamenti/{payment.pk}/").status_code == 404
    # a civil registrar does not issue population-register certificates, so does not see their payments
    assert second_factor_client(make_user(tenant, "civil_registrar")).get(url).status_code == 404
