"""Civil-status certificates and extracts (the tender's 1-5, 8, 9): each one's data rules from the
act and its annotations, the refusals with their Italian reason, the statutory stamp-duty
exemption, who may issue them, and the sealed PDF/A with its QR, dossier entry and audit."""

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
from registry.civil_status.services import act_draft_create, act_register, annotation_add
from registry.models import Certificate, CertificateBase, Person
from registry.services import residence_move
from tests.documents.conftest import converter, signer_p12, trust  # noqa: F401  (session fixtures)
from tests.factories import make_user, second_factor_client
from tests.pdf_tools import pdf_metadata, pdf_qr_codes, pdf_signatures, pdf_text

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

EXEMPTION = "Esente dall'imposta di bollo: certificati ed estratti dei registri dello stato civile (art. 7, comma 5, L. 405/1990)."


@pytest.fixture
def cert_settings(settings, tmp_path, signer_p12, trust, converter):  # noqa: F811
    settings.PROCEDO_DOCUMENTS_ROOT = str(tmp_path / "blobs")
    settings.PROCEDO_DOCUMENTS_SIGNERS = {"default": {"kind": "pkcs12", "path": str(signer_p12), "passphrase": "segreta"}}
    settings.PROCEDO_DOCUMENTS_TSA_URL = ""
    settings.PROCEDO_PUBLIC_BASE_URL = "https://procedo.example"
    fastpdf.forget_bases()
    return settings


def _person(tenant, key, family, given, sex, born, place, cf=""):
    return Person.objects.create(tenant=tenant, legacy_id=key, fiscal_code=cf, family_name=family, given_name=given,
                                 search_name=f"{family} {given}".lower(), sex=sex, birth_date=born,
                                 birth_place_name=place, citizenships=["100"])


@pytest.fixture
def acts(tenant, person):
    person.birth_place_name = "ROMA"
    person.save()
    anna = _person(tenant, "P2", "BIANCHI", "ANNA", "F", dt.date(1982, 2, 1), "LUCCA", "BNCNNA82B41H501X")
    luca = _person(tenant, "P3", "VERDI", "LUCA", "M", dt.date(1975, 3, 3), "PISA")
    paolo = _person(tenant, "P4", "NERI", "PAOLO", "M", dt.date(1978, 4, 4), "PRATO")
    gina = _person(tenant, "P5", "GIALLI", "GINA", "F", dt.date(1930, 5, 5), "SIENA")
    common = {"tenant": tenant, "actor": None, "office": "Capannori", "officer": "Ufficiale dello stato civile"}
    birth = act_register(**common, kind="birth", act_date=dt.date(1980, 1, 3),
                         data={"birth_date": "1980-01-01", "birth_time": "08:30", "birth_place": "CAPANNORI", "sex": "M",
                               "family_name": "ROSSI", "given_name": "MARIO", "father": "ROSSI LUIGI",
                               "mother": "BRUNI MARIA"},
                         parties=[(person.pk, "subject")])
    marriage = act_register(**common, kind="marriage", act_date=dt.date(2010, 6, 5),
                            data={"marriage_date": "2010-06-05", "marriage_place": "CAPANNORI", "rite": "civil",
                                  "property_regime": "separation", "witnesses": ["BIANCO ALDO", "ROSA ELSA"]},
                            parties=[(person.pk, "spouse"), (anna.pk, "spouse")])
    union = act_register(**common, kind="civil_union", act_date=dt.date(2018, 9, 1),
                         data={"union_date": "2018-09-01", "union_place": "CAPANNORI", "common_surname": "VERDI",
                               "witnesses": ["FERRI UGO"]},
                         parties=[(luca.pk, "partner"), (paolo.pk, "partner")])
    death = act_register(**common, kind="death", act_date=dt.date(2024, 3, 2),
                         data={"death_date": "2024-03-01", "death_time": "23:10", "death_place": "LUCCA",
                               "declarant": "GIALLI PIA"},
                         parties=[(gina.pk, "deceased")])
    return {"birth": birth, "marriage": marriage, "union": union, "death": death, "anna": anna, "luca": luca,
            "paolo": paolo, "gina": gina}


def _issue(tenant, user, person, kind, **kw):
    return services.certificate_issue(tenant=tenant, user=user, person_id=person.pk, kind=kind, **kw)


def _text(cert, tmp_path) -> str:
    return " ".join(pdf_text(storage.get(cert.document.sha256), tmp_path).split())


def test_every_act_certificate_states_the_act(cert_settings, tenant, person, acts, registrar, tmp_path):
    texts = {}
    for kind, who in (("matrimonio", person), ("estratto_matrimonio", acts["anna"]), ("estratto_nascita", person),
                      ("morte", acts["gina"]), ("estratto_morte", acts["gina"]),
                      ("unione_civile_testimoni", acts["luca"]), ("unione_civile", acts["paolo"])):
        [cert] = _issue(tenant, registrar, who, kind)
        text = _text(cert, tmp_path)
        assert CATALOGUE[kind].title.upper() in text, kind
        assert "Ufficio dello stato civile" in text and EXEMPTION in text, kind
        assert cert.document.verification_code in text, kind
        assert cert.stamp_mode == "exempt" and cert.use_code == 99 and "L. 405/1990" in cert.use_note
        texts[kind] = text
    m = texts["matrimonio"]
    assert "atti di matrimonio, atto 2010 parte 1 n. 1, formato il 05/06/2010" in m
    assert "ROSSI MARIO, nato a ROMA il 01/01/1980, codice fiscale RSSMRA80A01H501U" in m
    assert "e BIANCHI ANNA, nata a LUCCA il 01/02/1982" in m
    assert "hanno contratto matrimonio a CAPANNORI il 05/06/2010 con rito civile." in m
    assert "Annotazioni" not in m and "BIANCO ALDO" not in m
    assert "Validità: sei mesi" in m
    em = texts["estratto_matrimonio"]
    assert "rilascia il presente estratto per riassunto" in em and "separazione dei beni" in em
    assert "nessuna annotazione a margine dell'atto" in em
    b = texts["estratto_nascita"]
    assert "ROSSI MARIO, sesso M" in b and "è nato a CAPANNORI il 01/01/1980 alle ore 08:30." in b
    assert "ROSSI LUIGI" not in b and "BRUNI MARIA" not in b  # no paternity/maternity (art. 3 D.P.R. 432/1957)
    d = texts["morte"]
    assert "GIALLI GINA, nata a SIENA il 05/05/1930" in d and "è deceduta a LUCCA il 01/03/2024 alle ore 23:10." in d
    assert "validità illimitata" in d and "Annotazioni" not in d
    assert "nessuna annotazione" in texts["estratto_morte"] and "validità illimitata" in texts["estratto_morte"]
    u = texts["unione_civile_testimoni"]
    assert "VERDI LUCA, nato a PISA il 03/03/1975" in u and "e NERI PAOLO, nato a PRATO il 04/04/1978" in u
    assert "hanno costituito un'unione civile tra persone dello stesso sesso a CAPANNORI il 01/09/2018" in u
    assert "Cognome comune scelto: VERDI." in u and "Testimoni: FERRI UGO." in u
    assert "FERRI UGO" not in texts["unione_civile"] and "Cognome comune scelto: VERDI." in texts["unione_civile"]
    # one layout conversion per type, the civil-status ones apart from the register's
    assert CertificateBase.objects.filter(tenant=tenant).count() == 7


def test_a_divorce_refuses_the_marriage_certificate_and_the_extract_states_it(cert_settings, tenant, person, acts,
                                                                             registrar, tmp_path):
    annotation_add(tenant=tenant, actor=None, act_id=acts["marriage"].pk, kind="separation", date=dt.date(2019, 1, 10),
                   authority="Tribunale di Lucca", reference="decreto n. 12/2019")
    # a separation does not end the marriage: the certificate is still issued
    [cert] = _issue(tenant, registrar, person, "matrimonio")
    assert "Separazione" not in _text(cert, tmp_path)
    annotation_add(tenant=tenant, actor=None, act_id=acts["marriage"].pk, kind="divorce", date=dt.date(2021, 2, 20),
                   authority="Tribunale di Lucca", reference="sentenza n. 345/2021", text="Cessati gli effetti civili.")
    with pytest.raises(CertificateRefused, match="divorce|Scioglimento") as refused:
        _issue(tenant, registrar, person, "matrimonio")
    assert refused.value.code == "bond_ended"
    assert "20/02/2021" in refused.value.message and "estratto per riassunto" in refused.value.message
    [extract] = _issue(tenant, registrar, acts["anna"], "estratto_matrimonio")
    text = _text(extract, tmp_path)
    assert "Estratto con annotazioni. Annotazioni a margine dell'atto:" in text
    assert "10/01/2019: Separazione personale (Tribunale di Lucca, decreto n. 12/2019)" in text
    assert ("20/02/2021: Scioglimento o cessazione degli effetti civili del matrimonio (Tribunale di Lucca, sentenza n. "
            "345/2021) - Cessati gli effetti civili.") in text
    assert Certificate.objects.filter(kind="matrimonio").count() == 1


def test_the_data_rules_refuse_with_the_reason(cert_settings, tenant, person, acts, registrar):
    luca, paolo, anna = acts["luca"], acts["paolo"], acts["anna"]
    with pytest.raises(CertificateRefused, match="alcun atto di morte") as refused:
        _issue(tenant, registrar, person, "morte")  # alive: no death act
    assert refused.value.code == "no_act"
    with pytest.raises(CertificateRefused, match="alcun atto di unione civile"):
        _issue(tenant, registrar, person, "unione_civile")
    # chosen from an act sheet: the person must be its subject, the act of the right register
    with pytest.raises(CertificateRefused, match="non è coniuge") as refused:
        _issue(tenant, registrar, luca, "matrimonio", act_id=acts["marriage"].pk)
    assert refused.value.code == "not_subject"
    with pytest.raises(CertificateRefused, match="non è un atto di morte"):
        _issue(tenant, registrar, person, "morte", act_id=acts["marriage"].pk)
    # an act still in redaction is not certified
    draft = act_draft_create(tenant=tenant, actor=None, kind="marriage", act_date=dt.date(2023, 5, 5), office="X",
                             officer="Y", data={"marriage_date": "2023-05-05"},
                             parties=[(luca.pk, "spouse"), (paolo.pk, "spouse")])
    with pytest.raises(CertificateRefused, match="in redazione"):
        _issue(tenant, registrar, luca, "matrimonio", act_id=draft.pk)
    # two marriages: the person sheet cannot choose, the act sheet can
    second = act_register(tenant=tenant, actor=None, kind="marriage", act_date=dt.date(2022, 7, 7), office="Capannori",
                          officer="Sindaco", data={"marriage_date": "2022-07-07"},
                          parties=[(person.pk, "spouse"), (luca.pk, "spouse")])
    with pytest.raises(CertificateRefused, match="2 atti di matrimonio") as refused:
        _issue(tenant, registrar, person, "matrimonio")
    assert refused.value.code == "several_acts"
    [cert] = _issue(tenant, registrar, person, "matrimonio", act_id=second.pk)
    assert cert.kind == "matrimonio"
    # a civil union without witnesses: only the certificate without them
    act_register(tenant=tenant, actor=None, kind="civil_union", act_date=dt.date(2019, 1, 1), office="Capannori",
                 officer="Sindaco", data={"union_date": "2019-01-01"}, parties=[(anna.pk, "partner"),
                                                                                (acts["gina"].pk, "partner")])
    with pytest.raises(CertificateRefused, match="non riporta i testimoni"):
        _issue(tenant, registrar, anna, "unione_civile_testimoni")
    assert _issue(tenant, registrar, anna, "unione_civile")
    # a dissolved civil union: neither
    annotation_add(tenant=tenant, actor=None, act_id=acts["union"].pk, kind="union_dissolution",
                   date=dt.date(2022, 3, 3), authority="Tribunale di Lucca")
    for kind in ("unione_civile", "unione_civile_testimoni"):
        with pytest.raises(CertificateRefused, match="Scioglimento dell'unione civile") as refused:
            _issue(tenant, registrar, luca, kind)
        assert refused.value.code == "bond_ended"
    assert set(Certificate.objects.values_list("kind", flat=True)) == {"matrimonio", "unione_civile"}


def test_a_rectification_is_applied_and_listed(cert_settings, tenant, acts, registrar, tmp_path):
    gina = acts["gina"]
    annotation_add(tenant=tenant, actor=None, act_id=acts["death"].pk, kind="rectification", date=dt.date(2024, 5, 5),
                   authority="Tribunale di Lucca", reference="decreto n. 7/2024",
                   data={"field": "death_place", "value": "CAPANNORI"})
    annotation_add(tenant=tenant, actor=None, act_id=acts["death"].pk, kind="rectification", date=dt.date(2024, 6, 6),
                   data={"field": "not_a_field", "value": "X"})  # nothing the act has: not applied
    [cert] = _issue(tenant, registrar, gina, "morte")
    assert "è deceduta a CAPANNORI il 01/03/2024" in _text(cert, tmp_path)
    [extract] = _issue(tenant, registrar, gina, "estratto_morte")
    text = _text(extract, tmp_path)
    assert "è deceduta a CAPANNORI" in text and "05/05/2024: Rettificazione (Tribunale di Lucca, decreto n. 7/2024)" in text


def test_stamp_duty_is_never_charged_and_roles_are_checked(cert_settings, tenant, other_tenant, person, acts,
                                                           registrar):
    with pytest.raises(services.ValidationFailed, match="esenti dall'imposta di bollo"):
        _issue(tenant, registrar, person, "estratto_nascita", stamp_mode="physical", stamp_ids=["01234567890123"])
    with pytest.raises(services.ValidationFailed, match="esenti"):
        _issue(tenant, registrar, person, "estratto_nascita", stamp_mode="virtual", stamp_ids=["Aut. 1/2020"])
    # any exemption use chosen: the statutory exemption is recorded and printed
    [cert] = _issue(tenant, registrar, person, "estratto_nascita", use_code=10, copies=2)[:1]
    assert cert.use_code == 99 and cert.copies == 2
    civil = make_user(tenant, "civil_registrar")
    assert _issue(tenant, civil, person, "matrimonio")
    with pytest.raises(services.PermissionRefused):
        _issue(tenant, civil, person, "residenza", use_code=10)  # the register's certificates are not theirs
    with pytest.raises(services.PermissionRefused):
        _issue(tenant, make_user(tenant, "viewer"), person, "matrimonio")
    stranger = make_user(other_tenant, "civil_registrar")
    with pytest.raises(services.NotFound):
        _issue(other_tenant, stranger, person, "matrimonio")
    outsider = _person(other_tenant, "X1", "ALTRI", "UGO", "M", dt.date(1970, 1, 1), "ROMA")
    with pytest.raises(services.NotFound):  # an act of another municipality
        _issue(other_tenant, stranger, outsider, "matrimonio", act_id=acts["marriage"].pk)
    assert Certificate.objects.filter(tenant=other_tenant).count() == 0


def test_sealed_pdfa_with_qr_filed_and_audited(cert_settings, tenant, person, acts, registrar, tmp_path):
    request_id = uuid.uuid4()
    [cert] = _issue(tenant, registrar, person, "estratto_matrimonio", request_id=request_id)
    assert _issue(tenant, registrar, person, "estratto_matrimonio", request_id=request_id) == [cert]
    pdf = storage.get(cert.document.sha256)
    [report] = verify_pdf(pdf)
    assert report.intact and report.valid
    meta = pdf_metadata(pdf, tmp_path)
    assert 'pdfaid:part="2"' in meta or "<pdfaid:part>2</pdfaid:part>" in meta
    assert "Signature is Valid" in pdf_signatures(pdf, tmp_path)
    [decoded] = pdf_qr_codes(pdf, tmp_path)
    assert decoded == pipeline.verification_url(cert.document.verification_code)
    assert Client().get(f"/verifica/{cert.document.verification_code}").status_code == 200
    entry = DossierEntry.objects.get(document=cert.document)
    assert entry.fiscal_code == "RSSMRA80A01H501U" and entry.document_type == "certificato_estratto_matrimonio"
    event = AuditEvent.objects.get(tenant=tenant, object_type="certificate", object_id=str(cert.pk))
    assert event.actor == registrar and event.after["act"] == acts["marriage"].pk


def test_issued_from_the_act_sheet(cert_settings, tenant, person, acts, registrar, civico):
    client = second_factor_client(registrar)
    sheet = client.get(f"/anagrafe/atti/{acts['marriage'].pk}/").content.decode()
    url = f"/anagrafe/persone/{acts['anna'].pk}/certificati/"
    assert f"{url}?atto={acts['marriage'].pk}" in sheet and f"/anagrafe/persone/{person.pk}/certificati/?atto=" in sheet
    page = client.get(f"{url}?atto={acts['marriage'].pk}").content.decode()
    assert "1. Matrimonio" in page and "4. Estratto dell&#x27;atto di matrimonio" in page
    assert "Residenza" not in page and "2. Morte" not in page  # only the certificates of this act
    response = client.post(url, {"kind": "matrimonio", "use": "statutory", "copies": "1", "act": acts["marriage"].pk,
                                 "request_id": str(uuid.uuid4())})
    assert response.status_code == 302
    cert = Certificate.objects.get(tenant=tenant, person=acts["anna"])
    assert cert.kind == "matrimonio"
    refused = client.post(url, {"kind": "matrimonio", "use": "physical", "stamp_ids": "01234567890123", "copies": "1",
                                "act": acts["marriage"].pk, "request_id": str(uuid.uuid4())})
    assert refused.status_code == 400 and "esenti dall&#x27;imposta di bollo" in refused.content.decode()
    # a civil registrar gets the counter with the civil-status certificates only
    civil = second_factor_client(make_user(tenant, "civil_registrar"))
    page = civil.get(url).content.decode()
    assert "1. Matrimonio" in page and "Stato di famiglia storico" not in page
    assert f"{url}{cert.pk}/pdf" in page and civil.get(f"{url}{cert.pk}/pdf").status_code == 200
    # ... but not the population-register certificates, which their role does not issue
    residence_move(tenant=tenant, actor=None, person_id=acts["anna"].pk, house_number_id=civico.pk,
                   start_date=dt.date(2005, 1, 1), opening_event="registration")
    [residence] = _issue(tenant, registrar, acts["anna"], "residenza", use_code=10)
    page = civil.get(url).content.decode()
    assert f"{url}{residence.pk}/pdf" not in page and civil.get(f"{url}{residence.pk}/pdf").status_code == 404
    assert f"{url}{residence.pk}/pdf" in client.get(url).content.decode()
    assert client.get(f"{url}?atto=999999").status_code == 404


def test_the_demo_register_has_an_act_for_every_certificate(cert_settings, tenant, registrar, tmp_path):
    from django.core.management import call_command

    from registry.models import CivilAct

    call_command("registry_load_demo", people=80, households=30)
    demo = CivilAct.objects.filter(tenant=tenant, text__startswith="Atto di esempio")
    assert sorted(demo.values_list("kind", flat=True)) == ["birth", "civil_union", "death", "marriage"]
    call_command("registry_load_demo", people=80, households=30)  # a second run adds nothing
    assert demo.count() == 4
    issued = set()
    for act in demo:
        principal = act.parties.exclude(role="witness").first().person
        for kind in (k.code for k in CATALOGUE.values() if k.act_kind == act.kind):
            try:
                _issue(tenant, registrar, principal, kind, act_id=act.pk)
            except CertificateRefused as exc:
                assert (kind, exc.code) == ("matrimonio", "bond_ended")  # the demo marriage is divorced
            else:
                issued.add(kind)
    assert issued == {k.code for k in CATALOGUE.values() if k.act_kind} - {"matrimonio"}
    extract = Certificate.objects.get(tenant=tenant, kind="estratto_matrimonio")
    assert "Estratto con annotazioni" in _text(extract, tmp_path)


def test_every_listed_certificate_passes_pdfsig_its_qr_and_the_verification_page(cert_settings, tenant, person, acts,
                                                                                 registrar, civico, tmp_path):
    """Issue 13's Done-when: each of the nine tender certificates and the five registry ones, issued
    and verified as a recipient would (pdfsig, the QR decoded from the rendered page, /verifica/)."""
    from registry.models import Household, HouseholdMember

    household = Household.objects.create(tenant=tenant, legacy_id="F-ALL")
    HouseholdMember.objects.create(tenant=tenant, household=household, person=person, relationship=1,
                                   joined_on=dt.date(2000, 1, 1))
    person.citizenships = ["100"]
    person.save()
    residence_move(tenant=tenant, actor=None, person_id=person.pk, house_number_id=civico.pk,
                   start_date=dt.date(2000, 1, 1), opening_event="registration", household_id=household.pk)
    who = {"matrimonio": person, "morte": acts["gina"], "estratto_nascita": person,
           "estratto_matrimonio": acts["anna"], "estratto_morte": acts["gina"],
           "unione_civile_testimoni": acts["luca"], "unione_civile": acts["paolo"]}
    assert set(CATALOGUE) - set(who) == {"residenza", "stato_famiglia", "residenza_storico", "stato_famiglia_storico",
                                         "cittadinanza", "esistenza_in_vita", "nascita"}

    for kind in CATALOGUE:
        [cert] = _issue(tenant, registrar, who.get(kind, person), kind, use_code=10)
        pdf = storage.get(cert.document.sha256)
        assert "Signature is Valid" in pdf_signatures(pdf, tmp_path, name=kind), kind
        [decoded] = pdf_qr_codes(pdf, tmp_path, name=kind)
        assert decoded == pipeline.verification_url(cert.document.verification_code), kind
        page = Client().get(f"/verifica/{cert.document.verification_code}")
        assert page.status_code == 200 and cert.document.sha256 in page.content.decode(), kind
