"""A municipality's settings for a procedure (manifest `settings`): declared and checked in the
manifest, changed by the supervisor on Amministrazione > Procedimenti (audited), fixed on each case
when it opens."""

from __future__ import annotations

import pytest
from django.test import Client

from audit.models import AuditEvent
from cases.models import ProcessSettings
from cases.process_settings import settings_for
from engine.manifest import Manifest

pytestmark = pytest.mark.django_db

URL = "/amministrazione/procedimenti/marriage_banns/"
BANNS = {
    "spouses": [
        {"fiscal_code": "PRVGNN90R10H501Q", "given_name": "Giovanni", "family_name": "Prova", "sex": "M",
         "birth_date": "1990-10-10", "birth_place": "Roma", "citizenship": "IT",
         "residence_municipality": "Capannori", "residence_municipality_istat": "046007"},
        {"fiscal_code": "BNCLRA85M41E715O", "given_name": "Laura", "family_name": "Bianchi", "sex": "F",
         "birth_date": "1985-08-01", "birth_place": "Lucca", "citizenship": "IT",
         "residence_municipality": "Capannori", "residence_municipality_istat": "046007"},
    ],
    "rite": "civil",
    "celebration_municipality": "Capannori",
}


def _parse(settings):
    return Manifest.parse("p", {"name": "P", "channel": ["counter"], "starters": ["registrar"],
                                "start_form": "start.schema.json", "settings": settings}, {})


def test_the_manifest_declares_typed_settings_with_their_defaults():
    manifest = _parse({"days": {"title": "Giorni", "type": "integer", "default": 30, "minimum": 1, "maximum": 90},
                       "four_eyes": {"title": "Quattro occhi", "type": "boolean", "default": False}})
    assert manifest.setting_defaults() == {"days": 30, "four_eyes": False}
    assert not [p for p in manifest.problems if "impostazione" in p]


@pytest.mark.parametrize("spec, problem", [
    ({"type": "string", "default": "x"}, "'type'"),
    ({"type": "integer", "default": 0, "minimum": 1}, "'default' non valido"),
    ({"type": "integer", "default": "30"}, "'default' non valido"),
    ({"type": "boolean", "default": "yes"}, "'default' non valido"),
    ({"type": "integer", "default": 3, "maximun": 9}, "chiave sconosciuta 'maximun'"),
    ({"type": "integer", "default": 3, "minimum": "1"}, "interi"),
])
def test_a_wrong_setting_declaration_is_named(spec, problem):
    manifest = _parse({"days": spec})
    assert any(problem in p for p in manifest.problems), manifest.problems
    assert manifest.settings == ()


@pytest.fixture
def office(make_office):
    from accounts.roles import Role

    return make_office(civil_registrar=Role.CIVIL_REGISTRAR)


def client_for(user):
    client = Client()
    client.force_login(user)
    return client


def test_the_supervisor_sees_and_changes_the_banns_settings(office):
    supervisor = client_for(office["supervisor"])
    listing = supervisor.get("/amministrazione/procedimenti/").content.decode()
    assert "Pubblicazioni di matrimonio" in listing and "Giorni per pagare" in listing
    assert supervisor.get(URL).status_code == 200
    response = supervisor.post(URL, {"payment_days": "15", "four_eyes": "true"})
    assert response.status_code == 302
    assert ProcessSettings.objects.get(tenant=office["tenant"]).values == {"payment_days": 15, "four_eyes": True}
    event = AuditEvent.objects.get(action="process.settings")
    assert event.after == {"payment_days": 15, "four_eyes": True} and event.before == {}
    # An unchecked box is "no".
    supervisor.post(URL, {"payment_days": "15"})
    assert ProcessSettings.objects.get(tenant=office["tenant"]).values["four_eyes"] is False


@pytest.mark.parametrize("value", ["0", "91", "abc", "", "1e3"])
def test_a_wrong_value_is_explained_and_nothing_is_saved(office, value):
    response = client_for(office["supervisor"]).post(URL, {"payment_days": value})
    assert response.status_code == 400
    assert "Giorni per pagare" in response.content.decode() and 'aria-invalid="true"' in response.content.decode()
    assert not ProcessSettings.objects.exists()


@pytest.mark.parametrize("person", ["registrar", "civil_registrar", "viewer"])
def test_only_the_supervisor_changes_the_settings(office, person):
    client = client_for(office[person])
    assert client.get(URL).status_code == 403
    assert client.post(URL, {"payment_days": "5"}).status_code == 403
    assert not ProcessSettings.objects.exists()


def test_an_unknown_procedure_or_one_without_settings_is_not_found(office):
    supervisor = client_for(office["supervisor"])
    assert supervisor.get("/amministrazione/procedimenti/non_esiste/").status_code == 404
    assert supervisor.get("/amministrazione/procedimenti/residence_change/").status_code == 404


def test_a_case_keeps_the_settings_it_opened_with(office):
    from cases import services
    from cases.process_settings import settings_update

    officer = office["civil_registrar"]
    first = services.case_start(tenant=office["tenant"], user=officer, process_id="marriage_banns", data=BANNS)
    assert first.data["settings"] == {"payment_days": 30, "four_eyes": False}
    settings_update(tenant=office["tenant"], user=office["supervisor"], process_id="marriage_banns",
                    values={"payment_days": 10, "four_eyes": True})
    second = services.case_start(tenant=office["tenant"], user=officer, process_id="marriage_banns", data=BANNS)
    first.refresh_from_db()
    assert first.data["settings"] == {"payment_days": 30, "four_eyes": False}
    assert second.data["settings"] == {"payment_days": 10, "four_eyes": True}
    # Start data cannot smuggle settings in (the start form has no such field).
    with pytest.raises(Exception) as info:
        services.case_start(tenant=office["tenant"], user=officer, process_id="marriage_banns",
                            data={**BANNS, "settings": {"payment_days": 1}})
    assert getattr(info.value, "code", "") in ("validation_failed", "invalid")


def test_another_tenants_settings_do_not_apply(office, make_office):
    from cases.process_settings import settings_update
    from engine.manifest import manifest_of
    from engine.selectors import process_latest_version

    other = make_office(name="Comune di Lucca", istat="046017", belfiore="E715", processes=False)
    settings_update(tenant=other["tenant"], user=other["supervisor"], process_id="marriage_banns",
                    values={"payment_days": 5, "four_eyes": True})
    manifest = manifest_of(process_latest_version(process_id="marriage_banns"))
    assert settings_for(office["tenant"], manifest) == {"payment_days": 30, "four_eyes": False}
    assert settings_for(other["tenant"], manifest) == {"payment_days": 5, "four_eyes": True}


def test_a_stored_value_out_of_the_declared_bounds_falls_back_to_the_default(office):
    from django.utils import timezone

    from engine.manifest import manifest_of
    from engine.selectors import process_latest_version

    ProcessSettings.objects.create(tenant=office["tenant"], process_id="marriage_banns",
                                   values={"payment_days": 500, "four_eyes": True}, updated_at=timezone.now())
    manifest = manifest_of(process_latest_version(process_id="marriage_banns"))
    assert settings_for(office["tenant"], manifest) == {"payment_days": 30, "four_eyes": True}
