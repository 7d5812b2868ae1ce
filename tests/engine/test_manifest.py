"""The procedure manifest as one typed, validated object, and the deeds a procedure ships as data
(processes/<id>/deeds/: DOCX, field list, data mapping)."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import pytest
import yaml
from docx import Document as Docx

from engine.bundles import read_bundle, validate_bundle
from engine.manifest import LegalDeadline, Manifest, manifest_of, model_specs
from engine.sandbox import RestrictedEnvironment
from engine.script_helpers import build_helpers

PROCESSES = Path(__file__).resolve().parents[2] / "processes"


def _shipped(process_id: str) -> Manifest:
    bundle = read_bundle(PROCESSES / process_id)
    return Manifest.parse(process_id, bundle.manifest, bundle.files)


def test_the_shipped_manifests_load_into_typed_values():
    residence = _shipped("residence_change")
    assert residence.problems == ()
    assert residence.name == "Cambio di residenza" and residence.category == "anagrafe"
    assert residence.channels == {"counter", "portal", "platform"}  # platform: opened from an ANPR portal request
    assert residence.starters == {"registrar", "supervisor", "citizen"}
    assert residence.start_form == "start.schema.json" and residence.subjects_path == "declarants[*].fiscal_code"
    assert residence.legal_deadline == LegalDeadline(days=45, kind="calendar")
    assert residence.outcome_label("silence_assent") == "Accolta per silenzio-assenso"
    assert residence.outcome_label("unknown") == "unknown"
    assert residence.message_roles("citizen_reply") == {"citizen", "registrar", "supervisor"}
    assert residence.message_roles("payment_received") == frozenset()  # only the system delivers it
    assert not residence.message_by_starter_only("citizen_reply")
    ticket = _shipped("malfunction_ticket")
    assert ticket.problems == ()
    assert ticket.message_roles("reporter_confirm") == {"registrar", "civil_registrar", "police", "supervisor"}
    assert all(ticket.message_by_starter_only(m) for m in ("reporter_info", "reporter_confirm", "reporter_reopen"))
    assert list(residence.deeds) == ["comunicazione_avvio", "preavviso_rigetto", "comunicazione_esito"]
    anpr = _shipped("anpr_citizen_request")
    assert anpr.problems == () and anpr.channels == {"platform"} and anpr.starters == frozenset()


def test_public_milestones_follow_the_model_from_its_start_not_the_keys_order():
    bundle = read_bundle(PROCESSES / "residence_change")
    shuffled = dict(reversed(list(bundle.manifest["public_milestones"].items())))
    manifest = Manifest.parse("residence_change", {**bundle.manifest, "public_milestones": shuffled}, bundle.files)
    ids = [element for element, _label in manifest.public_milestones]
    assert ids[:3] == ["start", "registration", "police_verification"]
    assert ids.index("gw_wait") < ids.index("evaluate_reply") < ids.index("end_restored")


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"starter": ["registrar"]}, "chiave sconosciuta 'starter'"),
        ({"legal_deadline": {"days": 45, "kind": "lunar"}}, "'legal_deadline.kind' deve essere calendar o working"),
        ({"legal_deadline": {"days": "45"}}, "'legal_deadline.days' deve essere un numero di giorni positivo"),
        ({"legal_deadline": {"days": 45, "kynd": "working"}}, "chiave sconosciuta 'kynd' in 'legal_deadline'"),
        ({"outcomes": {"accepted": ""}}, "l'esito 'accepted' in 'outcomes' non ha un'etichetta"),
        ({"deeds": {"avviso": "deeds/avviso.docx"}}, "l'atto 'avviso' in 'deeds' deve indicare"),
        ({"deeds": {"avviso": {"template": "deeds/avviso.docx", "fields": "deeds/avviso.fields.yaml"}}},
         "il file deeds/avviso.docx indicato in 'template' non esiste"),
    ],
)
def test_a_wrong_or_misspelt_declaration_is_reported_naming_the_file(changes, expected):
    bundle = read_bundle(PROCESSES / "residence_change")
    manifest = Manifest.parse("residence_change", {**bundle.manifest, **changes}, bundle.files)
    assert any(expected in p and p.startswith("residence_change/manifest.yaml:") for p in manifest.problems), \
        manifest.problems


def test_a_misspelt_starters_key_denies_and_says_so():
    bundle = read_bundle(PROCESSES / "residence_change")
    raw = {k: v for k, v in bundle.manifest.items() if k != "starters"}
    manifest = Manifest.parse("residence_change", {**raw, "starter": ["registrar", "citizen"]}, bundle.files)
    assert manifest.starters == frozenset()  # fails closed
    assert any("chiave sconosciuta 'starter'" in p for p in manifest.problems)
    assert any("manca 'starters'" in p for p in manifest.problems)


@pytest.mark.django_db
def test_manifest_of_a_stored_version_is_parsed_once(django_assert_num_queries):
    version = _publish_residence()
    first = manifest_of(version)
    with django_assert_num_queries(0):
        assert manifest_of(version) is first
    assert first.legal_deadline == LegalDeadline(45, "calendar")
    assert [e for e, _label in first.public_milestones][:2] == ["start", "registration"]


def _publish_residence():
    from engine.models import ProcessVersion
    from engine.registry import process_version_publish

    outcome = process_version_publish(bundle=read_bundle(PROCESSES / "residence_change"))
    return ProcessVersion.objects.select_related("definition").get(
        definition__process_id="residence_change", version=outcome.version)


# ---------------------------------------------------------------- deeds


def test_the_deed_mapping_becomes_the_data_of_the_service_task_that_issues_it():
    bundle = read_bundle(PROCESSES / "residence_change")
    spec, subprocess_specs = model_specs("residence_change", bundle.files)
    notice = spec.task_specs["notice_of_start"]
    expression = notice.operation_params["data"]["value"]
    case_data = {
        "case_number": "2026/000007", "tenant_name": "Comune di Capannori", "declaration_date": "2026-03-01",
        "declarants": [{"fiscal_code": "RSSMRA80A01H501U", "given_name": "Mario", "family_name": "Rossi"},
                       {"fiscal_code": "BNCNNA82B41H501X", "given_name": "Anna", "family_name": "Bianchi"}],
        "new_address": {"street": "Via Roma", "house_number": "12", "municipality_istat": "046007"},
        "registration": {"origin": "abroad", "documents_checked": True},
        "received_on": "2026-03-02",
        "declaration_protocol": {"direction": "in", "protocol_number": "0000042", "protocol_date": "2026-03-02"},
    }
    data = RestrictedEnvironment(build_helpers(patron_day=None)).evaluate(expression, case_data)
    assert data == {
        "pratica": {"numero": "2026/000007", "data_dichiarazione": "01/03/2026", "data_ricezione": "02/03/2026",
                    "protocollo": "n. 0000042 del 02/03/2026"},
        "richiedente": {"nome": "Mario", "cognome": "Rossi", "codice_fiscale": "RSSMRA80A01H501U"},
        "indirizzo": {"via": "Via Roma", "civico": "12", "comune": "Capannori"},
        "componenti": [{"nome": "Mario", "cognome": "Rossi", "codice_fiscale": "RSSMRA80A01H501U"},
                       {"nome": "Anna", "cognome": "Bianchi", "codice_fiscale": "BNCNNA82B41H501X"}],
        "responsabile": "il responsabile dell'Ufficio Anagrafe",
        "provenienza_estero": True,
    }


@pytest.fixture
def bundle(tmp_path):
    shutil.copytree(PROCESSES / "residence_change", tmp_path / "residence_change")
    return tmp_path / "residence_change"


def _edit_yaml(path: Path, change) -> None:
    data = yaml.safe_load(path.read_text())
    change(data)
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False))


def _docx(*paragraphs: str) -> bytes:
    doc = Docx()
    for text in paragraphs:
        doc.add_paragraph(text)
    out = io.BytesIO()
    doc.save(out)
    return out.getvalue()


def test_the_shipped_deed_passes_the_bundle_check():
    assert validate_bundle(read_bundle(PROCESSES / "residence_change")) == []


def test_a_template_placeholder_outside_the_field_list_is_reported_naming_the_docx(bundle):
    (bundle / "deeds" / "comunicazione_avvio.docx").write_bytes(_docx("{{ richiedente.iban }} {{ sigillo_qr }}"))
    problems = validate_bundle(read_bundle(bundle))
    assert any(p.startswith("residence_change/deeds/comunicazione_avvio.docx:") and "richiedente.iban" in p
               for p in problems), problems


def test_a_template_with_a_forbidden_construct_is_reported(bundle):
    (bundle / "deeds" / "comunicazione_avvio.docx").write_bytes(_docx("{{ ente.__class__ }}"))
    problems = validate_bundle(read_bundle(bundle))
    assert any(p.startswith("residence_change/deeds/comunicazione_avvio.docx:") for p in problems), problems


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda m: m.update(iban="richiedente_iban"), "il campo 'iban' non è tra i campi dell'atto"),
        (lambda m: m["richiedente"].update(nome="__import__('os').system('id')"), "campo 'richiedente.nome': espressione non ammessa"),
        (lambda m: m.update(responsabile='"x"), "evil": (open("/etc/passwd")'), "campo 'responsabile'"),
        (lambda m: m.update(responsabile=3), "il campo 'responsabile' deve indicare un'espressione"),
    ],
)
def test_a_mapping_with_an_unknown_field_or_a_refused_expression_is_reported(bundle, change, expected):
    _edit_yaml(bundle / "deeds" / "comunicazione_avvio.mapping.yaml", change)
    problems = validate_bundle(read_bundle(bundle))
    assert any(p.startswith("residence_change/deeds/comunicazione_avvio.mapping.yaml:") and expected in p
               for p in problems), problems
    # A deed with a broken mapping gives its service task nothing to evaluate.
    spec, _subs = model_specs("residence_change", read_bundle(bundle).files)
    assert "data" not in spec.task_specs["notice_of_start"].operation_params


def test_a_declared_deed_no_service_task_issues_is_reported(bundle):
    def add(manifest):
        manifest["deeds"]["avviso"] = dict(manifest["deeds"]["comunicazione_avvio"])

    _edit_yaml(bundle / "manifest.yaml", add)
    problems = validate_bundle(read_bundle(bundle))
    assert any("l'atto 'avviso' in 'deeds' non è emesso da nessun service task" in p for p in problems), problems


def test_a_service_task_may_not_declare_its_own_data_for_a_mapped_deed(bundle):
    bpmn = bundle / "residence_change.bpmn"
    bpmn.write_text(bpmn.read_text().replace(
        '<spiffworkflow:parameter id="kind"',
        '<spiffworkflow:parameter id="data" type="any" value="{}" /><spiffworkflow:parameter id="kind"'))
    problems = validate_bundle(read_bundle(bundle))
    assert any("il service task 'notice_of_start' indica il parametro 'data'" in p for p in problems), problems


@pytest.mark.django_db
def test_a_running_case_keeps_the_deed_of_its_version_and_the_lookup_finds_it():
    from documents import services as documents_services
    from documents import templates

    version = _publish_residence()
    shipped = (PROCESSES / "residence_change" / "deeds" / "comunicazione_avvio.docx").read_bytes()
    assert templates.version_template(version, "comunicazione_avvio") == shipped
    assert documents_services.template_load(name="comunicazione_avvio", process_id="residence_change",
                                            version=version) == shipped
    # The admin page's field list is the one in the procedure folder.
    fields = documents_services.TEMPLATE_FIELDS["comunicazione_avvio"]
    assert fields == yaml.safe_load((PROCESSES / "residence_change" / "deeds" /
                                     "comunicazione_avvio.fields.yaml").read_text())
    assert documents_services.TEMPLATE_TITLES["comunicazione_avvio"] == "Comunicazione di avvio del procedimento"
    assert "certificato" in documents_services.TEMPLATE_FIELDS  # the built-in sample stays


def test_the_committed_deed_is_what_the_build_script_makes():
    """The DOCX is generated by scripts/build_deed_templates.py: editing the text there and
    forgetting to rebuild (or the reverse) is caught here."""
    import importlib.util

    path = Path(__file__).resolve().parents[2] / "scripts" / "build_deed_templates.py"
    spec = importlib.util.spec_from_file_location("build_deed_templates", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for target, build in module.DEEDS.items():
        assert target.read_bytes() == build(), target


def test_the_sample_rendering_of_the_shipped_deed_runs_to_its_end(caplog):
    """The bundle check renders each deed with sample data in the sandbox (the seal's images
    included), not only parses it."""
    import logging

    from documents import templates

    data = (PROCESSES / "residence_change" / "deeds" / "comunicazione_avvio.docx").read_bytes()
    fields = yaml.safe_load((PROCESSES / "residence_change" / "deeds" / "comunicazione_avvio.fields.yaml").read_text())
    with caplog.at_level(logging.INFO, logger="documents.templates"):
        templates.validate_template(data, schema=fields)
    assert "sample rendering failed" not in caplog.text


@pytest.mark.django_db
def test_publication_renders_the_deed_and_refuses_one_that_never_ends(bundle, settings):
    """The checks at every start stay in-process; publishing a version renders each deed with
    sample data in the documents sandbox, so a template that runs away is refused there."""
    from engine.bundles import BundleError
    from engine.models import ProcessDefinition
    from engine.registry import process_version_publish

    settings.PROCEDO_TEMPLATE_RENDER_SECONDS = 3
    runaway = ("{% for a in '" + "x" * 3000 + "' %}{% for b in '" + "x" * 3000 + "' %}{% for c in '"
               + "x" * 3000 + "' %}{% endfor %}{% endfor %}{% endfor %}")
    (bundle / "deeds" / "comunicazione_avvio.docx").write_bytes(_docx(runaway, "{{ sigillo_qr }}"))
    assert validate_bundle(read_bundle(bundle)) == []
    with pytest.raises(BundleError) as err:
        process_version_publish(bundle=read_bundle(bundle))
    assert any(p.startswith("residence_change/deeds/comunicazione_avvio.docx:") and "troppo tempo" in p
               for p in err.value.problems), err.value.problems
    assert not ProcessDefinition.objects.filter(process_id="residence_change").exists()
