"""The ANPR alignment check against the ANPR simulator over HTTP: differences are found and listed
with a proposed fix, nothing changes until a supervisor applies a fix, which is audited."""

from __future__ import annotations

import datetime as dt
from io import StringIO

import pytest
from django.conf import settings as django_settings
from django.core.management import call_command

from audit.models import AuditEvent
from common.errors import Conflict, ValidationFailed
from connectors.anpr.simulator import AnprSimulator, KeySource
from connectors.base.simulator import SimulatorServer
from connectors.pdnd import voucher as voucher_module
from connectors.pdnd.keys import demo_keys_dir
from connectors.pdnd.simulator import PdndSimulator
from registry import codes
from registry.alignment import RateLimiter, alignment_apply_fix, alignment_dismiss, alignment_run
from registry.models import (
    AlignmentDifference,
    Household,
    HouseholdMember,
    HouseNumber,
    Person,
    Residence,
    Street,
)
from tests.factories import make_tenant, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def anpr(monkeypatch):
    pdnd = PdndSimulator(keys_dir=demo_keys_dir())
    simulator = AnprSimulator(keys=KeySource(pdnd=pdnd))
    voucher_module.forget_vouchers()
    with SimulatorServer(pdnd) as pdnd_server, SimulatorServer(simulator) as anpr_server:
        monkeypatch.setattr(django_settings, "PROCEDO_ANPR_BASE_URL", anpr_server.url)
        monkeypatch.setattr(django_settings, "PROCEDO_PDND_BASE_URL", pdnd_server.url)
        monkeypatch.setattr(django_settings, "PROCEDO_PDND_TOKEN_URL", pdnd_server.url + "/token.oauth2")
        monkeypatch.setattr(django_settings, "PROCEDO_ANPR_TIMEOUT", "3")
        monkeypatch.setattr(django_settings, "PROCEDO_ANPR_ALIGN_RATE", 1000.0)
        yield simulator
    voucher_module.forget_vouchers()


@pytest.fixture
def capannori(db):
    return make_tenant("Comune di Capannori", istat="046007", belfiore="B648")


def _resident(tenant, fiscal_code, family, given, sex, born, street, number, household=None, relationship=1, **extra):
    person = Person.objects.create(tenant=tenant, fiscal_code=fiscal_code, family_name=family, given_name=given,
                                   search_name=f"{family} {given}".lower(), sex=sex, birth_date=born, **extra)
    street_obj, _created = Street.objects.get_or_create(tenant=tenant, code=street, defaults={
        "species": 213, "name": street, "search_name": street.lower()})
    civico, _created = HouseNumber.objects.get_or_create(tenant=tenant, street=street_obj, number=number,
                                                         defaults={"code": f"{street}-{number}"})
    Residence.objects.create(tenant=tenant, person=person, house_number=civico, household=household,
                             start_date=dt.date(2015, 1, 1), opening_event="registration")
    if household is not None:
        HouseholdMember.objects.create(tenant=tenant, household=household, person=person, relationship=relationship,
                                       joined_on=dt.date(2015, 1, 1))
    return person


@pytest.fixture
def register(capannori, anpr):
    """Local residents mirroring the simulator's, with the differences a real register has."""
    seeded = anpr.person("PRVGNN90R10H501Q")
    family = Household.objects.create(tenant=capannori, legacy_id="F1")
    giovanni = _resident(capannori, "PRVGNN90R10H501Q", "PROVA", "GIOVANI", "M", dt.date(1990, 10, 10), "DEI COLLI", 4,
                         household=family)  # typo in the name, no ANPR id, code not validated, MARIA missing
    laura = _resident(capannori, "BNCLRA85M41E715O", "BIANCHI", "LAURA", "F", dt.date(1985, 8, 1), "DEL POPOLO", 11,
                      anpr_id=anpr.person("BNCLRA85M41E715O")["id_anpr"],
                      fiscal_code_validation=codes.CF_VALIDATED)  # ANPR has her at no. 9
    mario = _resident(capannori, "RSSMRA80A01H501U", "ROSSI", "MARIO", "M", dt.date(1980, 1, 1), "ROMA", 1,
                      anpr_id=anpr.person("RSSMRA80A01H501U")["id_anpr"],
                      fiscal_code_validation=codes.CF_VALIDATED)  # ANPR: resident in Lucca
    ghost = _resident(capannori, "GHSTNN70A01B648X", "FANTASMA", "ANNA", "F", dt.date(1970, 1, 1), "ROMA", 1)
    dead = _resident(capannori, "VRDGPP70C15G702S", "VERDI", "GIUSEPPE", "M", dt.date(1970, 3, 15), "ROMA", 3,
                     death_date=dt.date(2020, 1, 1))  # not a resident any more: not checked
    return {"giovanni": giovanni, "laura": laura, "mario": mario, "ghost": ghost, "dead": dead, "family": family,
            "seeded": seeded}


def _by(run, person):
    return {d.field: d for d in run.differences.filter(person=person)}


@pytest.mark.postgres
def test_alignment_lists_differences_with_a_proposed_fix_and_changes_nothing(capannori, register, anpr):
    run = alignment_run(tenant=capannori, started_by="test")
    assert run.status == "done" and run.checked == 4 and not run.error  # the dead are not residents
    paths = [r.path for r in anpr.recorded("POST") if r.path.endswith("/anpr-service-e002")]
    assert sum(p.startswith("/C020-") for p in paths) == 4 and sum(p.startswith("/C021-") for p in paths) == 1
    assert run.lookups == 5
    giovanni = _by(run, register["giovanni"])
    assert giovanni["anpr_id"].fix == "set_anpr_id" and giovanni["anpr_id"].anpr_value == register["seeded"]["id_anpr"]
    assert (giovanni["given_name"].local_value, giovanni["given_name"].anpr_value) == ("GIOVANI", "GIOVANNI")
    assert giovanni["fiscal_code_validation"].fix == "validate_fiscal_code"
    assert giovanni["household_anpr_id"].fix == "set_household_anpr_id"
    assert giovanni["household_members"].fix == "review" and "PRVMRA92A41E715X" in giovanni["household_members"].anpr_value
    assert "family_name" not in giovanni and "birth_date" not in giovanni and "residence_address" not in giovanni
    laura = _by(run, register["laura"])
    assert set(laura) == {"residence_address"} and laura["residence_address"].fix == "review"
    assert set(_by(run, register["mario"])) == {"residence_municipality"}
    assert set(_by(run, register["ghost"])) == {"presence"}
    assert not run.differences.filter(person=register["dead"]).exists()
    # Nothing corrected silently.
    giovanni_now = Person.objects.get(pk=register["giovanni"].pk)
    assert (giovanni_now.given_name, giovanni_now.anpr_id, giovanni_now.fiscal_code_validation) == ("GIOVANI", "", 9)


@pytest.mark.postgres
def test_a_supervisor_applies_a_fix_explicitly_and_it_is_audited(capannori, register, anpr):
    supervisor = make_user(capannori, "supervisor")
    run = alignment_run(tenant=capannori, limit=1)  # the first resident only
    assert run.checked == 1
    giovanni = _by(run, register["giovanni"])
    alignment_apply_fix(tenant=capannori, actor=supervisor, difference_id=giovanni["given_name"].pk, ip="10.0.0.1")
    alignment_apply_fix(tenant=capannori, actor=supervisor, difference_id=giovanni["anpr_id"].pk)
    alignment_apply_fix(tenant=capannori, actor=supervisor, difference_id=giovanni["household_anpr_id"].pk)
    person = Person.objects.get(pk=register["giovanni"].pk)
    assert (person.given_name, person.search_name) == ("GIOVANNI", "prova giovanni")
    assert person.anpr_id == register["seeded"]["id_anpr"]
    assert Household.objects.get(pk=register["family"].pk).anpr_id == anpr.family_id(register["seeded"])
    event = AuditEvent.objects.get(object_type="registry_person", object_id=str(person.pk),
                                   extra__alignment_difference=giovanni["given_name"].pk)
    assert event.actor_id == supervisor.pk and event.before == {"given_name": "GIOVANI"}
    decided = AlignmentDifference.objects.get(pk=giovanni["given_name"].pk)
    assert (decided.status, decided.decided_by) == ("applied", supervisor.username)
    with pytest.raises(Conflict):  # once only
        alignment_apply_fix(tenant=capannori, actor=supervisor, difference_id=giovanni["given_name"].pk)
    with pytest.raises(ValidationFailed) as exc:  # a residence difference needs a procedure
        alignment_apply_fix(tenant=capannori, actor=supervisor, difference_id=giovanni["household_members"].pk)
    assert exc.value.code == "fix_not_applicable"
    alignment_dismiss(tenant=capannori, actor=supervisor, difference_id=giovanni["household_members"].pk)
    assert AlignmentDifference.objects.get(pk=giovanni["household_members"].pk).status == "dismissed"
    # The register changed after the check: the old proposal is not applied over it.
    Person.objects.filter(pk=person.pk).update(fiscal_code_validation=5)
    with pytest.raises(Conflict):
        alignment_apply_fix(tenant=capannori, actor=supervisor, difference_id=giovanni["fiscal_code_validation"].pk)
    other = make_tenant("Altrove")
    with pytest.raises(ValidationFailed):  # another municipality's difference does not exist for it
        alignment_apply_fix(tenant=other, actor=None, difference_id=giovanni["fiscal_code_validation"].pk)


@pytest.mark.postgres
def test_the_command_runs_the_check(capannori, register, anpr):
    out = StringIO()
    call_command("anpr_align", "--tenant", "046007", "--limit", "2", stdout=out)
    text = out.getvalue()
    assert "2 people checked" in text and "given_name" in text and "GIOVANNI" in text


def test_rate_limiter_spaces_calls():
    now = [100.0]
    slept: list[float] = []

    def sleep(seconds):
        slept.append(round(seconds, 3))
        now[0] += seconds

    limiter = RateLimiter(4.0, monotonic=lambda: now[0], sleep=sleep)
    for _ in range(3):
        limiter.wait()
    assert slept == [0.25, 0.25]
    now[0] += 10
    limiter.wait()
    assert slept == [0.25, 0.25]
