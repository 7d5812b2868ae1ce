"""Registry certificates: data rules and refusals, stamp duty vs exemption, the sealed PDF/A with its
QR to the verification page, dossier filing, audit, tenant isolation, and the pages."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from django.test import Client

from audit.models import AuditEvent
from documents import pipeline, storage
from documents.models import DossierEntry
from documents.verify import verify_pdf
from registry.certificates import fastpdf, services
from registry.certificates.catalogue import CATALOGUE, CertificateRefused
from registry.models import Certificate, CertificateBase, Household, HouseholdMember, Person, Residence
from registry.services import residence_close, residence_move
from tests.documents.conftest import converter, signer_p12, trust  # noqa: F401  (session fixtures)
from tests.factories import make_user, second_factor_client
from tests.pdf_tools import pdf_fonts, pdf_metadata, pdf_qr_codes, pdf_signatures, pdf_text

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


@pytest.fixture
def cert_settings(settings, tmp_path, signer_p12, trust, converter):  # noqa: F811
    settings.PROCEDO_DOCUMENTS_ROOT = str(tmp_path / "blobs")
    settings.PROCEDO_DOCUMENTS_SIGNERS = {"default": {"kind": "pkcs12", "path": str(signer_p12), "passphrase": "segreta"}}
    settings.PROCEDO_DOCUMENTS_TSA_URL = ""
    settings.PROCEDO_PUBLIC_BASE_URL = "https://procedo.example"
    fastpdf.forget_bases()
    return settings


@pytest.fixture
def family(tenant, person, civico):
    person.citizenships = ["100"]
    person.birth_place_name = "ROMA"
    person.save()
    household = Household.objects.create(tenant=tenant, legacy_id="F1", anpr_id="123456")
    HouseholdMember.objects.create(tenant=tenant, household=household, person=person, relationship=1,
                                   joined_on=dt.date(2000, 1, 1))
    spouse = Person.objects.create(tenant=tenant, fiscal_code="BNCNNA82B41H501X", family_name="BIANCHI",
                                   given_name="ANNA", search_name="bianchi anna", sex="F", birth_date=dt.date(1982, 2, 1),
                                   birth_place_name="LUCCA", citizenships=["100"])
    HouseholdMember.objects.create(tenant=tenant, household=household, person=spouse, relationship=2,
                                   joined_on=dt.date(2005, 6, 1))
    for p, start in ((person, dt.date(2000, 1, 1)), (spouse, dt.date(2005, 6, 1))):
        residence_move(tenant=tenant, actor=None, person_id=p.pk, house_number_id=civico.pk, start_date=start,
                       opening_event="registration", household_id=household.pk)
    return household


def _issue(tenant, user, person, kind, **kw):
    kw.setdefault("use_code", 10)
    return services.certificate_issue(tenant=tenant, user=user, person_id=person.pk, kind=kind, **kw)


def _text(pdf: bytes, tmp_path) -> str:
    return pdf_text(pdf, tmp_path)


def test_every_certificate_is_issued_for_a_resident_with_a_household(cert_settings, tenant, person, family, registrar,
                                                                    tmp_path):
    register_kinds = [k for k, spec in CATALOGUE.items() if not spec.is_civil_status]  # acts: test_act_certificates
    assert len(register_kinds) == 7
    for kind in register_kinds:
        [cert] = _issue(tenant, registrar, person, kind)
        text = " ".join(_text(storage.get(cert.document.sha256), tmp_path).split())
        assert CATALOGUE[kind].title.upper() in text, kind
        assert "ROSSI MARIO" in text and "RSSMRA80A01H501U" in text, kind
        assert "SCAMBIO DI ATTI E DOCUMENTI FRA PP.AA. - art. 16, tabella allegato B) DPR 642/1972" in text, kind
        assert cert.document.verification_code in text, kind
    texts = {c.kind: " ".join(_text(storage.get(c.document.sha256), tmp_path).split())
             for c in Certificate.objects.filter(tenant=tenant)}
    assert "Via ROMA, 12 dal 01/01/2000" in texts["residenza"]
    assert "2. BIANCHI ANNA - nata a LUCCA il 01/02/1982 - Marito / Moglie" in texts["stato_famiglia"]
    assert "1. ROSSI MARIO - nato a ROMA il 01/01/1980 - Intestatario Scheda" in texts["stato_famiglia"]
    assert "è cittadino italiano" in texts["cittadinanza"]
    assert "è in vita alla data di rilascio" in texts["esistenza_in_vita"]
    assert "dal 01/01/2000 ad oggi: Via ROMA, 12" in texts["residenza_storico"]
    assert "in qualità di Intestatario Scheda" in texts["stato_famiglia_storico"]
    assert "BIANCHI ANNA, nata a LUCCA il 01/02/1982 - Marito / Moglie (dal 01/06/2005 ad oggi)" in texts["stato_famiglia_storico"]
    # one layout conversion per certificate type, reused afterwards
    assert CertificateBase.objects.filter(tenant=tenant).count() == len(register_kinds)


def test_refusals_say_why_in_italian(cert_settings, tenant, person, civico, registrar):
    with pytest.raises(CertificateRefused, match="non risulta residente"):
        _issue(tenant, registrar, person, "residenza")
    with pytest.raises(CertificateRefused, match="alcuna residenza"):
        _issue(tenant, registrar, person, "residenza_storico")
    with pytest.raises(CertificateRefused, match="alcuna famiglia"):
        _issue(tenant, registrar, person, "stato_famiglia_storico")
    residence_move(tenant=tenant, actor=None, person_id=person.pk, house_number_id=civico.pk,
                   start_date=dt.date(2000, 1, 1), opening_event="registration")
    with pytest.raises(CertificateRefused, match="famiglia anagrafica") as refused:
        _issue(tenant, registrar, person, "stato_famiglia")
    assert refused.value.code == "no_household"
    with pytest.raises(CertificateRefused, match="cittadina italiana"):
        _issue(tenant, registrar, person, "cittadinanza")  # no citizenship recorded
    with pytest.raises(CertificateRefused, match="luogo di nascita"):
        _issue(tenant, registrar, person, "nascita")
    person.death_date = dt.date(2020, 5, 4)
    person.save()
    for kind in ("residenza", "esistenza_in_vita", "cittadinanza", "nascita", "stato_famiglia"):
        with pytest.raises(CertificateRefused, match="deceduta il 04/05/2020"):
            _issue(tenant, registrar, person, kind)
    # the history stays certifiable after death
    residence_close(tenant=tenant, actor=None, person_id=person.pk, end_date=dt.date(2020, 5, 4), closing_event="death")
    [cert] = _issue(tenant, registrar, person, "residenza_storico")
    assert cert.kind == "residenza_storico"
    assert not Certificate.objects.filter(kind="residenza").exists()


def test_stamp_duty_physical_and_virtual_are_printed_and_a_stamp_pays_once(cert_settings, tenant, person, family,
                                                                          registrar, tmp_path):
    certs = _issue(tenant, registrar, person, "residenza_storico", use_code=None, stamp_mode="physical", copies=2,
                   stamp_ids=["01234567890123", "01234567890124"])
    assert [c.copy_number for c in certs] == [1, 2] and certs[0].document != certs[1].document
    first = " ".join(_text(storage.get(certs[0].document.sha256), tmp_path).split())
    assert "contrassegno telematico n. 01234567890123" in first and "copia 1 di 2" in first
    assert "esenzione" not in first.lower()
    with pytest.raises(services.ValidationFailed, match="già usato"):
        _issue(tenant, registrar, person, "residenza", use_code=None, stamp_mode="physical", stamp_ids=["01234567890124"])
    for bad in ([], ["123"], ["01234567890125", "01234567890125"]):
        with pytest.raises(services.ValidationFailed):
            _issue(tenant, registrar, person, "residenza", use_code=None, stamp_mode="physical", stamp_ids=bad,
                   copies=2 if len(bad) == 2 else 1)
    [virtual] = _issue(tenant, registrar, person, "stato_famiglia_storico", use_code=None, stamp_mode="virtual",
                       stamp_ids=["Aut. AdE n. 12345/2020"])
    assert "assolta in modo virtuale, autorizzazione Aut. AdE n. 12345/2020" in " ".join(
        _text(storage.get(virtual.document.sha256), tmp_path).split())
    with pytest.raises(services.ValidationFailed, match="motivo"):
        _issue(tenant, registrar, person, "residenza", use_code=99)
    [other] = _issue(tenant, registrar, person, "residenza", use_code=99, use_note="Uso previsto dalla norma X")
    assert "ALTRO MOTIVO DI ESENZIONE: Uso previsto dalla norma X" in " ".join(
        _text(storage.get(other.document.sha256), tmp_path).split())
    with pytest.raises(services.ValidationFailed):
        _issue(tenant, registrar, person, "residenza", use_code=None, stamp_mode="pagopa")
    with pytest.raises(services.ValidationFailed):
        _issue(tenant, registrar, person, "residenza", use_code=4242)


def test_the_certificate_is_pdfa_sealed_with_a_qr_to_the_verification_page(cert_settings, tenant, person, family,
                                                                          registrar, tmp_path):
    [cert] = _issue(tenant, registrar, person, "stato_famiglia")
    pdf = storage.get(cert.document.sha256)
    [report] = verify_pdf(pdf)
    assert report.intact and report.valid
    meta = pdf_metadata(pdf, tmp_path)
    assert 'pdfaid:part="2"' in meta or "<pdfaid:part>2</pdfaid:part>" in meta
    assert 'pdfaid:conformance="B"' in meta or "<pdfaid:conformance>B</pdfaid:conformance>" in meta
    fonts = pdf_fonts(pdf, tmp_path)
    assert fonts and all(line.split()[-5] == "yes" for line in fonts), fonts
    assert "Signature is Valid" in pdf_signatures(pdf, tmp_path)
    [decoded] = pdf_qr_codes(pdf, tmp_path)
    assert decoded == pipeline.verification_url(cert.document.verification_code)
    page = Client().get(f"/verifica/{cert.document.verification_code}")
    assert page.status_code == 200 and cert.document.sha256 in page.content.decode()


def test_filed_in_the_dossier_audited_and_idempotent(cert_settings, tenant, person, family, registrar):
    request_id = uuid.uuid4()
    [cert] = _issue(tenant, registrar, person, "residenza", request_id=request_id)
    assert _issue(tenant, registrar, person, "residenza", request_id=request_id) == [cert]
    entry = DossierEntry.objects.get(document=cert.document)
    assert entry.fiscal_code == "RSSMRA80A01H501U" and entry.document_type == "certificato_residenza"
    event = AuditEvent.objects.get(tenant=tenant, object_type="certificate", object_id=str(cert.pk))
    assert event.actor == registrar and event.action == "sign"
    assert Certificate.objects.count() == 1


def test_only_issuers_of_the_tenant_and_only_its_people(cert_settings, tenant, other_tenant, person, family):
    viewer = make_user(tenant, "viewer")
    with pytest.raises(services.PermissionRefused):
        _issue(tenant, viewer, person, "residenza")
    stranger = make_user(other_tenant, "registrar")
    with pytest.raises(services.PermissionRefused):
        _issue(tenant, stranger, person, "residenza")
    with pytest.raises(services.NotFound):
        _issue(other_tenant, stranger, person, "residenza")
    assert not Certificate.objects.exists()


def test_the_counter_page_issues_and_shows_refusals(cert_settings, tenant, other_tenant, person, family, registrar,
                                                   civico):
    client = second_factor_client(registrar)
    sheet = client.get(f"/anagrafe/persone/{person.pk}/").content.decode()
    assert f"/anagrafe/persone/{person.pk}/certificati/" in sheet
    url = f"/anagrafe/persone/{person.pk}/certificati/"
    page = client.get(url)
    assert page.status_code == 200 and "Stato di famiglia storico" in page.content.decode()
    response = client.post(url, {"kind": "residenza", "use": "10", "copies": "1", "request_id": str(uuid.uuid4())})
    assert response.status_code == 302
    cert = Certificate.objects.get(tenant=tenant)
    assert cert.document.verification_code in client.get(response["Location"]).content.decode()
    download = client.get(f"{url}{cert.pk}/pdf")
    assert download.status_code == 200 and download.content == storage.get(cert.document.sha256)
    residence_close(tenant=tenant, actor=None, person_id=person.pk, end_date=dt.date(2024, 1, 1),
                    closing_event="departure")
    refused = client.post(url, {"kind": "residenza", "use": "10", "copies": "1", "request_id": str(uuid.uuid4())})
    assert refused.status_code == 400 and "non risulta residente" in refused.content.decode()
    viewer = second_factor_client(make_user(tenant, "viewer"))
    assert viewer.get(url).status_code == 404
    stranger = second_factor_client(make_user(other_tenant, "registrar"))
    assert stranger.get(url).status_code == 404
    assert stranger.get(f"{url}{cert.pk}/pdf").status_code == 404
    assert Residence.objects.filter(person=person, end_date__isnull=True).count() == 0
