"""The dossier pages: list, preview/download links, upload checked by content, exports; who may
see and who may add; every view audited."""

from __future__ import annotations

import io
import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from PIL import Image

from audit.models import AuditEvent
from documents.models import DossierEntry
from tests.documents.test_documents_app import CF, OTHER_CF, _issue, docs_settings, world  # noqa: F401

pytestmark = pytest.mark.django_db


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (10, 10), "white").save(out, format="PNG")
    return out.getvalue()


def test_staff_see_the_dossier_and_add_a_scan(world):  # noqa: F811
    _issue(world)
    client = _client(world["registrar"])
    page = client.get(f"/fascicoli/{CF.lower()}/").content.decode()
    assert "comunicazione_avvio" in page or "Comunicazione" in page
    assert "Anteprima" in page and "?inline=1" in page and world["case"].number in page
    response = client.post(f"/fascicoli/{CF}/", {
        "file": SimpleUploadedFile("carta.png", _png()), "document_type": "scansione", "date": "20/11/2026",
        "protocol_number": "0004711", "protocol_date": "21/11/2026", "origin": "citizen"}, follow=True)
    assert "Documento aggiunto al fascicolo." in response.content.decode()
    entry = DossierEntry.objects.get(fiscal_code=CF, document__filename="carta.png")
    assert (entry.protocol_number, str(entry.protocol_date), entry.origin) == ("0004711", "2026-11-21", "citizen")
    assert AuditEvent.objects.filter(action="read", object_type="dossier", object_id=CF).exists()


def test_a_bad_upload_is_explained_and_nothing_is_filed(world):  # noqa: F811
    client = _client(world["registrar"])
    response = client.post(f"/fascicoli/{CF}/", {"file": SimpleUploadedFile("virus.pdf", b"MZ\x90\x00rest"),
                                                  "date": "31/02/2026", "origin": "office"})
    body = response.content.decode()
    assert response.status_code == 400 and "Data non valida" in body
    response = client.post(f"/fascicoli/{CF}/", {"file": SimpleUploadedFile("virus.pdf", b"MZ\x90\x00rest"),
                                                  "origin": "office"})
    assert response.status_code == 400 and "Sono ammessi solo file PDF, JPEG, PNG o TIFF." in response.content.decode()
    assert not DossierEntry.objects.filter(fiscal_code=CF).exists()


def test_viewers_read_but_do_not_add_citizens_only_their_own_other_tenants_nothing(world):  # noqa: F811
    _issue(world)
    viewer = _client(world["viewer"])
    page = viewer.get(f"/fascicoli/{CF}/").content.decode()
    assert "Anteprima" in page and "Aggiungi al fascicolo" not in page
    assert viewer.post(f"/fascicoli/{CF}/", {"origin": "office"}).status_code == 404
    assert _client(world["citizen"]).get(f"/fascicoli/{CF}/").status_code == 200
    assert _client(world["other_citizen"]).get(f"/fascicoli/{CF}/").status_code == 404
    other = _client(world["b_user"]).get(f"/fascicoli/{CF}/").content.decode()
    assert "Nessun documento nel fascicolo." in other
    assert _client(world["registrar"]).get("/fascicoli/<script>/").status_code == 404


@pytest.mark.parametrize("fmt, content_type", [
    ("ods", "application/vnd.oasis.opendocument.spreadsheet"),
    ("xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
    ("csv", "text/csv"), ("json", "application/json"),
])
def test_the_listing_exports(world, fmt, content_type):  # noqa: F811
    _issue(world)
    response = _client(world["registrar"]).get(f"/fascicoli/{CF}/?format={fmt}")
    assert response.status_code == 200 and response["Content-Type"].startswith(content_type)
    assert f"fascicolo-{CF}.{fmt}" in response["Content-Disposition"]
    if fmt == "json":
        rows = json.loads(response.content)
        assert len(rows) == 1 and rows[0]["signed"] is True and rows[0]["case"] == world["case"].number
    assert AuditEvent.objects.filter(object_type="dossier_export", object_id=CF).exists()


def test_the_dossier_search_opens_a_dossier_or_explains(world):  # noqa: F811
    client = _client(world["registrar"])
    assert client.get("/fascicoli/").status_code == 200
    assert client.get(f"/fascicoli/?cf={CF.lower()}")["Location"] == f"/fascicoli/{CF}/"
    bad = client.get("/fascicoli/?cf=123")
    assert bad.status_code == 400 and "Codice fiscale non valido" in bad.content.decode()
    assert _client(world["citizen"]).get("/fascicoli/")["Location"] == f"/fascicoli/{CF}/"


def test_the_api_accepts_only_the_municipality_document_types(world):  # noqa: F811
    from tests.factories import api_client

    client = api_client(world["registrar"], world["a"])
    response = client.post(f"/api/v1/dossiers/{CF}/", {
        "file": SimpleUploadedFile("s.png", _png()), "document_type": "inventato", "date": "2026-11-20",
        "origin": "office"}, format="multipart")
    assert response.status_code == 400 and "document_type" in response.json()["error"]["fields"]
    ok = client.post(f"/api/v1/dossiers/{CF}/", {
        "file": SimpleUploadedFile("s.png", _png()), "document_type": "permesso_soggiorno", "date": "2026-11-20",
        "origin": "office"}, format="multipart")
    assert ok.status_code == 201
