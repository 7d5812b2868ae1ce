"""PARER SIP for a signed document: valid against the official XSD, keyed by protocol or case
number, and deposited through the PARER connector against its simulator over HTTP, once."""

from __future__ import annotations

import datetime as dt

import pytest

from common.operations import OperationContext, PermanentError, get_operation
from connectors.base.openapi import spec_path
from connectors.base.xml import parse_xml, validation_errors
from connectors.parer.client import REQUEST_XSD
from connectors.parer.simulator import ParerSimulator
from documents.models import Document, DossierEntry
from documents.sip import build_sip
from tests.connectors.base.support import running
from tests.documents.test_documents_app import _issue, docs_settings, world  # noqa: F401 - fixtures

pytestmark = pytest.mark.django_db

CREDENTIALS = {"ambiente": "PARER_TEST", "ente": "DEMO", "struttura": "DEMO_STRUTTURA", "username": "demo_user"}


def _ctx(world, key):  # noqa: F811
    return OperationContext(tenant_id=world["a"].pk, tenant_istat=world["a"].istat_code, idempotency_key=key,
                            case_id=world["case"].pk)


def test_the_sip_of_a_signed_deed_is_valid_and_keyed_by_case_then_protocol(world):  # noqa: F811
    document = Document.objects.get(pk=_issue(world)["document_id"])
    sip = build_sip(document, credentials=CREDENTIALS)
    root = parse_xml(sip)
    assert validation_errors(root, spec_path(REQUEST_XSD)) == []
    year, number = world["case"].number.split("/")
    assert root.findtext("Intestazione/Chiave/Numero") == number and root.findtext("Intestazione/Chiave/Anno") == year
    assert root.findtext(".//Componente/HashVersato") == document.sha256
    assert root.findtext("Intestazione/Versatore/UserID") == "demo_user"

    DossierEntry.objects.filter(document=document).update(protocol_number="0004711", protocol_date=dt.date(2026, 11, 20))
    root = parse_xml(build_sip(document, credentials=CREDENTIALS))
    assert (root.findtext("Intestazione/Chiave/Numero"), root.findtext("Intestazione/Chiave/TipoRegistro")) == \
        ("0004711", "PG")


def test_a_document_is_preserved_once_and_the_outcome_recorded(world, monkeypatch):  # noqa: F811
    document_id = _issue(world)["document_id"]
    app = ParerSimulator()
    with running(app, monkeypatch, "parer"):
        result = get_operation("documents.preserve")({"document_id": document_id}, _ctx(world, "preserve-1"))
        assert result["outcome"] == "POSITIVO" and result["already_preserved"] is False
        again = get_operation("documents.preserve")({"document_id": document_id}, _ctx(world, "preserve-2"))
    document = Document.objects.get(pk=document_id)
    assert document.preservation_status == "POSITIVO" and document.preservation_urn == result["urn_sip"]
    assert document.preserved_at is not None
    assert again["already_preserved"] is True and len(app.deposits) == 1


def test_only_this_tenants_signed_documents_are_preserved(world):  # noqa: F811
    with pytest.raises(PermanentError):
        get_operation("documents.preserve")({"document_id": 999999}, _ctx(world, "missing"))
    with pytest.raises(PermanentError):
        get_operation("documents.preserve")({"document_id": "x"}, _ctx(world, "bad"))
