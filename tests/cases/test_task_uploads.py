"""A file attached to a task form: checked by content and size, stored, kept across drafts,
linked to the case; a refusal explains itself next to the field and loses nothing typed."""

from __future__ import annotations

import io
import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from PIL import Image

from accounts.roles import Role
from documents import storage
from documents.models import Document
from tests.factories import declaration_payload, work_item

pytestmark = pytest.mark.django_db

DECLARATION = declaration_payload()


def _pdf() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (60, 80), "white").save(out, format="PDF")  # a scanned page
    return out.getvalue()


PDF = _pdf()


@pytest.fixture
def task(settings, tmp_path, make_office):
    settings.PROCEDO_DOCUMENTS_ROOT = str(tmp_path / "blobs")
    office = make_office(people={"registrar": Role.REGISTRAR}, cases=[DECLARATION])
    case, item = office["case"], work_item(office["case"], "registration")
    client = Client()
    client.force_login(office["registrar"])
    return {"client": client, "item": item, "case": case, "url": f"/compiti/{item.pk}/"}


def _post(task, upload, action="complete", **fields):
    data = {"action": action, "origin": "same_municipality", "documents_checked": "true",
            "documents_checked__present": "1", "notes": "scritto a mano", **fields}
    if upload is not None:
        data["identity_document"] = upload
    return task["client"].post(task["url"], data, follow=True)


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (8, 8), "white").save(out, format="PNG")
    return out.getvalue()


def test_a_pdf_is_checked_stored_and_linked_to_the_case(task):
    response = _post(task, SimpleUploadedFile("carta.pdf", PDF, content_type="application/pdf"))
    assert "completato" in response.content.decode()
    task["item"].refresh_from_db()
    assert task["item"].status == "completed"
    doc = Document.objects.get(case=task["case"], kind="allegato")
    assert doc.mime == "application/pdf" and storage.get(doc.sha256) == PDF and doc.filename == "carta.pdf"
    page = task["client"].get(f"/pratiche/{task['case'].pk}/").content.decode()
    assert "carta.pdf" in page.split('id="h-documents"')[1]


@pytest.mark.parametrize("name, content, message", [
    ("carta.pdf", b"MZ\x90\x00 this is a Windows program", "Sono ammessi solo file PDF, JPEG, PNG o TIFF."),
    ("scan.tiff", b"II*\x00" + b"\x00" * 64, "Tipo di file non ammesso qui: sono accettati PDF, JPEG, PNG."),
    ("grande.pdf", PDF + b"%" * (10 * 1024 * 1024), "Il file supera la dimensione massima consentita (10 MB)."),
])
def test_a_wrong_file_is_refused_next_to_its_field_and_nothing_typed_is_lost(task, name, content, message):
    body = _post(task, SimpleUploadedFile(name, content)).content.decode()
    assert message in body and "scritto a mano" in body
    assert 'id="f-identity_document-err"' in body
    task["item"].refresh_from_db()
    assert task["item"].status == "open"
    assert not Document.objects.filter(case=task["case"], kind="allegato").exists()


def test_an_upload_in_a_draft_is_kept_and_completes_without_sending_it_again(task):
    _post(task, SimpleUploadedFile("foto.png", _png()), action="draft")
    page = task["client"].get(task["url"]).content.decode()
    assert "Bozza ripristinata" in page and "foto.png" in page and 'name="identity_document__kept"' in page
    kept = page.split('name="identity_document__kept" value="')[1].split('"')[0].replace("&quot;", '"')
    response = _post(task, None, identity_document__kept=kept)
    body = response.content.decode()
    assert "completato" in body, [line for line in body.splitlines() if "alert" in line or "feedback" in line][:8]
    assert Document.objects.filter(case=task["case"], kind="allegato", mime="image/png").count() == 1


def test_a_crafted_reference_to_another_file_is_dropped(task):
    other = Document.objects.create(tenant=task["case"].tenant, kind="allegato", title="x", sha256="0" * 64,
                                    filename="altrui.pdf", mime="application/pdf", size=1, signed=False,
                                    created_at=task["case"].opened_at)  # not this case's
    kept = json.dumps({"document_id": other.pk, "name": "altrui.pdf"})
    _post(task, None, action="draft", identity_document__kept=kept)
    page = task["client"].get(task["url"]).content.decode()
    assert "altrui.pdf" not in page
