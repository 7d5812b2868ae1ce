"""The end of a publication (signed report, attached to the case) and the engine operation that
lets a BPMN service task post to the notice board."""

from __future__ import annotations

import datetime as dt
import subprocess

import pytest

from audit.models import AuditEvent
from cases.services import case_start
from common import clock
from documents import storage
from documents.models import Document
from documents.verify import verify_pdf
from engine.models import WorkflowInstance
from engine.selectors import instance_data
from engine.services import outbox_deliver_due
from noticeboard import services
from noticeboard.models import Publication
from noticeboard.tasks import close_ended_publications_task
from tests.engine_models import inline_bundle
from tests.noticeboard.test_services import MONDAY, publish

pytestmark = pytest.mark.django_db

BPMN = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
                  xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core"
                  id="defs" targetNamespace="http://procedo.example/tests">
  <bpmn:process id="post_banns" name="Pubblica all'albo" isExecutable="true">
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:serviceTask id="publish" name="Pubblica all'albo">
      <bpmn:extensionElements>
        <spiffworkflow:serviceTaskOperator id="noticeboard.publish" resultVariable="albo">
          <spiffworkflow:parameters>
            <spiffworkflow:parameter id="title" type="str" value="'Pubblicazione di matrimonio ' + spouses" />
            <spiffworkflow:parameter id="category" type="str" value="'pubblicazioni_matrimonio'" />
            <spiffworkflow:parameter id="document_id" type="int" value="deed_id" />
            <spiffworkflow:parameter id="office" type="str" value="'Ufficio di stato civile'" />
            <spiffworkflow:parameter id="responsible" type="str" value="'Laura Verdi'" />
          </spiffworkflow:parameters>
        </spiffworkflow:serviceTaskOperator>
      </bpmn:extensionElements>
      <bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
    </bpmn:serviceTask>
    <bpmn:endEvent id="end"><bpmn:incoming>f2</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="publish" />
    <bpmn:sequenceFlow id="f2" sourceRef="publish" targetRef="end" />
  </bpmn:process>
</bpmn:definitions>
"""


@pytest.fixture
def process():
    from engine.registry import process_version_publish

    process_version_publish(bundle=inline_bundle("post_banns", "Pubblica all'albo", {"post_banns.bpmn": BPMN}))


def test_a_bpmn_service_task_posts_a_publication_and_gets_its_number_and_dates(board, signed_document, process):
    clock.freeze(MONDAY)
    deed = signed_document()
    case = case_start(tenant=board["a"], user=board["registrar"], process_id="post_banns",
                      data={"spouses": "Rossi - Bianchi", "deed_id": deed.pk})
    assert outbox_deliver_due() == {"done": 1}
    publication = Publication.objects.get(tenant=board["a"])
    assert publication.case == case and publication.document == deed and publication.days == 8
    assert publication.title == "Pubblicazione di matrimonio Rossi - Bianchi"
    albo = instance_data(instance=WorkflowInstance.objects.get(pk=case.instance_id))["albo"]
    assert albo == {"publication_id": publication.pk, "number": 1, "year": 2026, "register_number": "1/2026",
                    "start_date": "2026-12-07", "end_date": "2026-12-14"}
    event = AuditEvent.objects.get(object_type="publication", action="create")
    assert event.actor_id is None and event.after["case"] == case.pk


def test_the_operation_refuses_a_fiscal_code_for_good_and_repeats_idempotently(board, signed_document):
    from common.operations import OperationContext, PermanentError, get_operation

    clock.freeze(MONDAY)
    op = get_operation("noticeboard.publish")
    ctx = OperationContext(tenant_id=board["a"].pk, tenant_istat=board["a"].istat_code, idempotency_key="m-1")
    deed = signed_document()
    params = {"title": "Avviso", "category": "avviso", "document_id": deed.pk, "days": 15,
              "office": "Anagrafe", "responsible": "Laura Verdi"}
    with pytest.raises(PermanentError, match="codice fiscale"):
        op({**params, "body": "RSSMRA80A01H501U"}, ctx)
    with pytest.raises(PermanentError):
        op({**params, "document_id": "x"}, ctx)
    first = op(params, ctx)
    assert op(params, ctx) == first and first["end_date"] == "2026-12-21"
    assert Publication.objects.count() == 1


def test_at_the_end_a_signed_report_is_attached_to_the_publication_and_the_case(board, signed_document, process,
                                                                                 converter, tmp_path):
    clock.freeze(MONDAY)
    case = case_start(tenant=board["a"], user=board["registrar"], process_id="post_banns",
                      data={"spouses": "Rossi - Bianchi", "deed_id": signed_document().pk})
    outbox_deliver_due()
    publication = Publication.objects.get()
    withdrawn = publish(board, signed_document(), title="Avviso annullato", category="avviso")
    services.publication_withdraw(publication=withdrawn, actor=board["supervisor"], reason="Errore")

    # The withdrawn one gets its report at once: its time on the board ended with the withdrawal.
    assert close_ended_publications_task() == {"closed": 1, "failed": 0}
    clock.advance(dt.timedelta(days=7))  # the last day: not ended yet
    assert close_ended_publications_task() == {"closed": 0, "failed": 0}
    clock.advance(dt.timedelta(days=1))
    assert close_ended_publications_task() == {"closed": 1, "failed": 0}
    assert close_ended_publications_task() == {"closed": 0, "failed": 0}  # once only

    publication.refresh_from_db()
    report = publication.report_document
    assert report is not None and report.kind == "referto_pubblicazione" and report.case == case
    assert Document.objects.filter(case=case, kind="referto_pubblicazione").count() == 1
    withdrawn_report = Publication.objects.get(pk=withdrawn.pk).report_document
    assert withdrawn_report is not None and withdrawn_report.kind == "referto_pubblicazione"
    withdrawn_path = tmp_path / "referto-annullata.pdf"
    withdrawn_path.write_bytes(storage.get(withdrawn_report.sha256))
    withdrawn_text = " ".join(subprocess.run(["pdftotext", str(withdrawn_path), "-"], capture_output=True, text=True,
                                             check=True).stdout.split())
    assert "REFERTO DI PUBBLICAZIONE ANNULLATA" in withdrawn_text and "motivazione: Errore" in withdrawn_text
    assert "consultabile dal 07/12/2026 al 07/12/2026" in withdrawn_text
    pdf = storage.get(report.sha256)
    [signature] = verify_pdf(pdf)
    assert signature.intact and signature.valid
    path = tmp_path / "referto.pdf"
    path.write_bytes(pdf)
    assert "Signature is Valid." in subprocess.run(["pdfsig", str(path)], capture_output=True, text=True).stdout
    text = " ".join(subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True,
                                   check=True).stdout.split())
    assert "REFERTO DI PUBBLICAZIONE" in text and "1/2026" in text and "dal 07/12/2026 al 14/12/2026" in text
    assert publication.document.sha256 in text.replace(" ", "")
    assert AuditEvent.objects.filter(object_type="publication", object_id=str(publication.pk), action="sign").exists()


def test_the_closing_job_is_on_the_beat_schedule_and_found_by_the_worker(settings):
    from config.celery import app

    entry = settings.CELERY_BEAT_SCHEDULE["noticeboard-close-ended"]
    app.loader.import_default_modules()  # what a worker does at start
    assert entry["task"] in app.tasks and app.tasks[entry["task"]].apply().get() == {"closed": 0, "failed": 0}
