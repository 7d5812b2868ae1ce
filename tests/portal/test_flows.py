"""The citizen area through its services and pages: a request filed online in steps (draft kept,
attachment checked by content), protocolled with a sealed receipt; the office's 10-bis notice
answered with text and a file; withdrawal; a certificate's stamp duty paid through the pagoPA
Checkout, then issued sealed; the App IO message at a public milestone."""

from __future__ import annotations

import datetime as dt
import re
import uuid

import httpx
import pytest

from cases import services as case_services
from cases.models import CaseStatus
from common import clock
from connectors.pagopa.models import DebtPosition
from documents import storage
from documents.models import Document, DossierEntry, Origin
from documents.verify import verify_pdf
from engine.services import outbox_deliver_due
from portal import services
from portal.models import (
    CertificateRequestStatus,
    MilestoneNotice,
    ProtocolStatus,
    SubmissionDraft,
)
from registry.models import Certificate
from tests.portal.conftest import citizen_client, clean_pdf, declaration_for

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

PDF = clean_pdf()


def _settle() -> None:
    for _ in range(10):
        if not outbox_deliver_due():
            return


def _register(case, town, capture) -> None:
    """The registrar completes the case's registration task; what it sends runs before returning."""
    item = case.work_items.get(bpmn_id="registration", status="open")
    with capture(execute=True):
        case_services.work_item_complete(work_item_id=item.pk, tenant=town["tenant"], user=town["registrar"],
                                         data={"origin": "same_municipality", "documents_checked": True})
        _settle()


def _submit(town, sims, *, with_file: bool = True):
    tenant, citizen = town["tenant"], town["citizen"]
    draft = services.draft_for(tenant=tenant, user=citizen, process_id="residence_change")
    services.draft_save(draft=draft, data=declaration_for(), step=3)
    if with_file:
        services.draft_attachment_add(draft=draft, user=citizen, data=PDF, filename="contratto.pdf",
                                      label="Contratto di locazione")
    return services.submission_submit(tenant=tenant, user=citizen, process_id="residence_change")


def test_a_request_filed_online_starts_a_portal_case_protocolled_with_a_sealed_receipt(town, sims, portal_settings):
    submission = _submit(town, sims)
    case = submission.case
    assert case.data["channel"] == "portal" and case.data["received_on"] == clock.today().isoformat()
    assert submission.protocol_status == ProtocolStatus.DONE and submission.protocol_number
    assert not SubmissionDraft.objects.exists()
    # The attachment joined the case and the citizen's dossier, marked as theirs.
    attachment = Document.objects.get(case=case, kind="allegato_cittadino")
    assert DossierEntry.objects.get(document=attachment).origin == Origin.CITIZEN
    # The receipt is sealed, names the protocol number and is in the dossier with a verification code.
    receipt = submission.receipt
    pdf = storage.get(receipt.sha256)
    assert verify_pdf(pdf)[0].intact
    assert receipt.verification_code and DossierEntry.objects.filter(document=receipt, fiscal_code=town["citizen"].fiscal_code).exists()
    # The protocol registered the request as filed (primary) and the attachment.
    sent = [r for r in sims["protocollo"].requests if r.method == "POST"]
    assert sent and b"contratto.pdf" in sent[-1].body


def test_a_submission_survives_the_protocol_being_down_and_is_protocolled_later(town, sims, portal_settings):
    sims["protocollo"].faults.set(fail_count=100, fail_status=503)
    submission = _submit(town, sims, with_file=False)
    assert submission.protocol_status == ProtocolStatus.PENDING and submission.receipt_id is None
    sims["protocollo"].faults.clear()
    assert services.submissions_protocol_pending() == 1
    submission.refresh_from_db()
    assert submission.protocol_status == ProtocolStatus.DONE and submission.receipt_id


def test_a_file_that_is_not_what_it_claims_is_refused(town, portal_settings):
    draft = services.draft_for(tenant=town["tenant"], user=town["citizen"], process_id="residence_change")
    with pytest.raises(services.FileRejected):
        services.draft_attachment_add(draft=draft, user=town["citizen"], data=b"MZ\x90\x00 not a pdf",
                                      filename="contratto.pdf", label="x")
    draft.refresh_from_db()
    assert draft.attachments == []


def test_drafts_are_kept_a_year_then_purged(town):
    draft = services.draft_for(tenant=town["tenant"], user=town["citizen"], process_id="residence_change")
    assert services.drafts_purge(now=draft.updated_at + dt.timedelta(days=365)) == 0
    assert services.drafts_purge(now=draft.updated_at + dt.timedelta(days=401)) == 1


def _to_observations(town, case):
    """The office's side: registration, a negative dwelling check, the 10-bis notice, its delivery."""
    tenant, registrar, police = town["tenant"], town["registrar"], town["police"]

    def complete(bpmn_id, user, data):
        item = case.work_items.get(bpmn_id=bpmn_id, status="open")
        case_services.work_item_complete(work_item_id=item.pk, tenant=tenant, user=user, data=data)

    complete("registration", registrar, {"origin": "same_municipality", "documents_checked": True})
    _settle()
    complete("police_verification", police, {"outcome": "negative", "visit_date": clock.today().isoformat(),
                                             "found_at_address": False, "negative_reason": "Abitazione disabitata"})
    complete("notice_10bis", registrar, {"reasons": "Il sopralluogo ha accertato che l'abitazione è disabitata.",
                                         "notice_date": clock.today().isoformat()})
    _settle()
    case.refresh_from_db()
    case_services.case_message_deliver(case=case, user=registrar, message="notice_delivered",
                                       payload={"delivered_on": clock.today().isoformat()})


def test_the_citizen_answers_the_10bis_notice_with_text_and_a_file(town, sims, portal_settings):
    case = _submit(town, sims, with_file=False).case
    client = citizen_client(town["citizen"])
    page = client.get(f"/area-personale/pratiche/{case.pk}/").content.decode()
    assert "L&#x27;ufficio attende una sua risposta" not in page
    _to_observations(town, case)
    page = client.get(f"/area-personale/pratiche/{case.pk}/").content.decode()
    assert "attende una sua risposta" in page and "In attesa delle sue osservazioni" in page
    from django.core.files.uploadedfile import SimpleUploadedFile

    response = client.post(f"/area-personale/pratiche/{case.pk}/risposta/", {
        "message": "citizen_reply", "text": "Abito qui: allego il contratto.",
        "files": [SimpleUploadedFile("contratto.pdf", PDF, content_type="application/pdf")]})
    assert response.status_code == 302
    case.refresh_from_db()
    assert case.work_items.filter(bpmn_id="evaluate_reply", status="open").exists()
    reply_doc = Document.objects.get(case=case, filename="contratto.pdf")
    assert DossierEntry.objects.get(document=reply_doc).origin == Origin.CITIZEN
    # What the citizen sent is in the area too (and the office's evaluation task has it as the message payload).
    assert "Abito qui: allego il contratto." in client.get(f"/area-personale/pratiche/{case.pk}/").content.decode()


def test_a_citizen_cannot_deliver_a_message_the_manifest_keeps_for_the_office(town, sims, portal_settings):
    case = _submit(town, sims, with_file=False).case
    with pytest.raises(services.PermissionRefused):
        services.case_reply(tenant=town["tenant"], user=town["citizen"], case_id=case.pk, message="notice_delivered",
                            text="consegnata", files=[])


def test_the_declarant_withdraws_an_open_request(town, sims, portal_settings):
    case = _submit(town, sims, with_file=False).case
    client = citizen_client(town["citizen"])
    client.post(f"/area-personale/pratiche/{case.pk}/ritiro/", {"confirm": "1", "reason": "Ho cambiato idea"})
    case.refresh_from_db()
    assert case.status == CaseStatus.CANCELLED
    # Another citizen cannot withdraw it (they do not even see it).
    with pytest.raises(case_services.NotFound):
        case_services.case_withdraw(case_id=case.pk, tenant=town["tenant"], user=town["other_citizen"])


def test_a_certificate_stamp_duty_is_paid_through_the_checkout_then_issued(town, sims, portal_settings):
    tenant, citizen = town["tenant"], town["citizen"]
    client = citizen_client(citizen)
    response = client.post("/area-personale/certificati/", {"kind": "cittadinanza", "for": "self", "use": "stamp"})
    assert response.status_code == 302
    request_row = services.CertificateRequest.objects.get(user=citizen)
    assert request_row.status == CertificateRequestStatus.AWAITING_PAYMENT
    position = request_row.position
    assert position.amount_cents == 1600 and position.debtor_fiscal_code == citizen.fiscal_code
    # Not paid: the certificate is not issued, whatever the citizen claims.
    client.get(f"/area-personale/certificati/{request_row.pk}/")
    assert not Certificate.objects.exists()
    # The checkout: our page sends the browser to pagoPA, which sends it back after "Paga".
    response = client.post(f"/area-personale/pagamenti/{position.pk}/paga/")
    checkout = response["Location"]
    assert checkout.startswith(sims["pagopa_url"] + "/c/")
    with httpx.Client(follow_redirects=False) as browser:
        assert "Paga" in browser.get(checkout).text
        back = browser.post(checkout, data={"action": "pay"}).headers["location"]
    assert back.startswith("http://testserver/area-personale/pagamenti/") and back.endswith("?esito=ok")
    response = client.get(back.removeprefix("http://testserver"))
    assert response["Location"] == f"/area-personale/certificati/{request_row.pk}/"
    page = client.get(response["Location"]).content.decode()
    request_row.refresh_from_db()
    assert request_row.status == CertificateRequestStatus.ISSUED
    cert = Certificate.objects.get(request_id=request_row.request_id)
    assert cert.stamp_mode == "pagopa" and cert.stamp_id == position.notice_number
    assert f"/area-personale/documenti/{cert.document_id}/" in page
    pdf = client.get(f"/area-personale/documenti/{cert.document_id}/").content
    assert verify_pdf(pdf)[0].intact
    # The same payment cannot pay for a second certificate.
    with pytest.raises(services.ValidationFailed):
        from registry.certificates.services import certificate_issue_online

        certificate_issue_online(tenant=tenant, user=citizen, person_id=town["person"].pk, kind="cittadinanza",
                                 paid_position_id=position.pk, request_id=uuid.uuid4())


def test_an_exempt_certificate_is_issued_at_once_and_another_persons_only_where_the_law_allows(town, portal_settings):
    tenant, citizen = town["tenant"], town["citizen"]
    issued = services.certificate_request_create(tenant=tenant, user=citizen, kind="residenza", use_code=10)
    assert issued.status == CertificateRequestStatus.ISSUED and issued.document.signed
    other = services.certificate_request_create(tenant=tenant, user=citizen, kind="residenza",
                                                other_fiscal_code=town["other_person"].fiscal_code,
                                                purpose="Pratica di successione", use_code=10)
    assert other.for_other and other.person == town["other_person"]
    # The requester downloads it from their own documents.
    assert DossierEntry.objects.filter(document=other.document, fiscal_code=citizen.fiscal_code).exists()
    with pytest.raises(services.PermissionRefused):
        services.certificate_request_create(tenant=tenant, user=citizen, kind="residenza_storico",
                                            other_fiscal_code=town["other_person"].fiscal_code,
                                            purpose="Curiosità", use_code=10)
    with pytest.raises(services.ValidationFailed):
        services.certificate_request_create(tenant=tenant, user=citizen, kind="residenza",
                                            other_fiscal_code=town["other_person"].fiscal_code, use_code=10)


def test_an_opted_in_citizen_gets_a_message_at_each_public_milestone_on_app_io_or_by_email(
        town, sims, portal_settings, mailoutbox):
    from tests.factories import MARIO_CF

    tenant, citizen = town["tenant"], town["citizen"]
    services.profile_update(tenant=tenant, user=citizen, io_opt_in=True, email_opt_in=True, email="mario@example.org")
    case = _submit(town, sims, with_file=False).case
    assert services.milestones_notify() == 0  # what the case had reached when they opted in: recorded only

    def complete(bpmn_id, user, data):
        item = case.work_items.get(bpmn_id=bpmn_id, status="open")
        case_services.work_item_complete(work_item_id=item.pk, tenant=tenant, user=user, data=data)
        _settle()

    # Mario has blocked the municipality's service on IO (the simulator's seed): email instead.
    complete("registration", town["registrar"], {"origin": "same_municipality", "documents_checked": True})
    assert services.milestones_notify() == 1
    assert MilestoneNotice.objects.get(case=case, element_id="police_verification").channel == "email"
    assert f"/area-personale/pratiche/{case.pk}/" in mailoutbox[-1].body
    # Once he allows it, the next milestone (the outcome) arrives on IO with the deep link.
    sims["appio"].profiles[MARIO_CF]["sender_allowed"] = True
    complete("police_verification", town["police"], {"outcome": "positive", "visit_date": clock.today().isoformat(),
                                                     "found_at_address": True})
    assert services.milestones_notify() == 1
    assert MilestoneNotice.objects.get(case=case, element_id="end_accepted").channel == "io"
    assert f"/area-personale/pratiche/{case.pk}/" in sims["appio"].messages[-1]["content"]["markdown"]
    assert services.milestones_notify() == 0  # once per milestone


def test_the_profile_is_linked_to_the_register_person(town):
    profile = services.profile_for(tenant=town["tenant"], user=town["citizen"])
    assert profile.person == town["person"]


def test_the_pagopa_notice_carries_the_pagopa_qr_code(town, sims, portal_settings, tmp_path):
    import subprocess

    request_row = services.certificate_request_create(tenant=town["tenant"], user=town["citizen"], kind="cittadinanza")
    pdf = citizen_client(town["citizen"]).get(f"/area-personale/pagamenti/{request_row.position_id}/avviso.pdf").content
    (tmp_path / "n.pdf").write_bytes(pdf)
    subprocess.run(["pdftoppm", "-r", "200", "-png", "-singlefile", str(tmp_path / "n.pdf"), str(tmp_path / "n")], check=True)
    decoded = subprocess.run(["zbarimg", "-q", "--raw", str(tmp_path / "n.png")], capture_output=True, text=True).stdout
    position = DebtPosition.objects.get(pk=request_row.position_id)
    assert f"PAGOPA|002|{position.notice_number}|" in decoded
    assert re.search(r"\|1600$", decoded.strip())


def test_a_certificate_the_register_cannot_support_is_refused_before_any_payment(town, sims, portal_settings):
    from registry.models import Residence

    Residence.objects.filter(person=town["person"]).delete()
    with pytest.raises(services.ValidationFailed, match="residente"):
        services.certificate_request_create(tenant=town["tenant"], user=town["citizen"], kind="residenza")
    assert not DebtPosition.objects.exists() and not services.CertificateRequest.objects.exists()


def test_the_milestone_message_leaves_at_the_milestone_not_at_the_next_sweep(town, sims, portal_settings, mailoutbox,
                                                                            django_capture_on_commit_callbacks):
    """cases.signals.case_progressed after the step's commit queues portal.tasks.case_milestones_task (run
    here by an eager Celery): the citizen is told without waiting for the beat sweep, and only once."""
    from config.celery import app

    tenant, citizen = town["tenant"], town["citizen"]
    services.profile_update(tenant=tenant, user=citizen, io_opt_in=False, email_opt_in=True, email="mario@example.org")
    app.conf.task_always_eager = True
    try:
        with django_capture_on_commit_callbacks(execute=True):
            case = _submit(town, sims, with_file=False).case  # the start: what it reached is recorded, not sent
        assert MilestoneNotice.objects.filter(case=case).exists() and not mailoutbox
        _register(case, town, django_capture_on_commit_callbacks)
    finally:
        app.conf.task_always_eager = False
    notice = MilestoneNotice.objects.get(case=case, element_id="police_verification")
    assert notice.channel == "email" and len(mailoutbox) == 1
    assert f"/area-personale/pratiche/{case.pk}/" in mailoutbox[0].body
    assert services.milestones_notify() == 0  # the sweep finds nothing left to say
    assert len(mailoutbox) == 1


def test_a_citizen_who_opts_in_after_filing_is_heard_at_the_next_step(town, sims, portal_settings, mailoutbox,
                                                                       django_capture_on_commit_callbacks):
    """Case.subjects_watched: a case nobody watches sends no cases.signals.case_progressed (its steps ask the
    portal nothing); when its citizen opts in later, the case is flagged and its next step runs the milestone
    hook at once (the first run records what the case reached, as it always did)."""
    from cases.signals import case_progressed
    from config.celery import app

    tenant, citizen = town["tenant"], town["citizen"]
    heard: list[int] = []

    def listener(sender, *, case_id, **kwargs):
        heard.append(case_id)

    case_progressed.connect(listener, dispatch_uid="tests.portal.heard")
    app.conf.task_always_eager = True
    try:
        with django_capture_on_commit_callbacks(execute=True):
            case = _submit(town, sims, with_file=False).case
        case.refresh_from_db()
        assert not case.subjects_watched and heard == [] and not MilestoneNotice.objects.filter(case=case).exists()
        services.profile_update(tenant=tenant, user=citizen, io_opt_in=False, email_opt_in=True,
                                email="mario@example.org")
        case.refresh_from_db()
        assert case.subjects_watched
        _register(case, town, django_capture_on_commit_callbacks)
    finally:
        app.conf.task_always_eager = False
        case_progressed.disconnect(dispatch_uid="tests.portal.heard")
    assert heard and set(heard) == {case.pk}
    assert MilestoneNotice.objects.get(case=case, element_id="police_verification").channel == "none"
    assert not mailoutbox  # told from the next milestone on, never about what happened before
