"""Civil-status registers: acts are numbered gap-free per register, immutable once closed (in the
services and, on PostgreSQL, in the database), corrected by annotations, and act on the population
register (death closes the residence and queues the ANPR notice; marriage sets civil status)."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from django.db import IntegrityError, connection, transaction

from audit.models import AuditEvent
from common.errors import ValidationFailed
from registry.civil_status.services import (
    act_close,
    act_draft_create,
    act_draft_update,
    act_register,
    annotation_add,
)
from registry.models import (
    ActAnnotation,
    AnprNotification,
    CivilAct,
    CivilActParty,
    Household,
    HouseholdMember,
    Person,
    Residence,
)
from registry.services import residence_move
from tests.factories import make_tenant

pytestmark = pytest.mark.django_db


def _person(tenant, key: str, sex: str = "M", civil_status: int = 1, **extra) -> Person:
    return Person.objects.create(tenant=tenant, legacy_id=key, family_name=f"COGNOME{key}", given_name="NOME",
                                 search_name=f"cognome{key.lower()} nome", sex=sex, birth_date=dt.date(1980, 1, 1),
                                 civil_status=civil_status, **extra)


def _marriage(tenant, a, b, day=dt.date(2020, 6, 6), **extra):
    return act_register(tenant=tenant, actor=None, kind="marriage", act_date=day, office="Capannori",
                        officer="Sindaco", data={"marriage_date": day.isoformat(), "rite": "civil"},
                        parties=[(a.pk, "spouse"), (b.pk, "spouse")], **extra)


def _death(tenant, person, died=dt.date(2024, 3, 1)):
    return act_register(tenant=tenant, actor=None, kind="death", act_date=died + dt.timedelta(days=1),
                        office="Capannori", officer="Ufficiale dello stato civile",
                        data={"death_date": died.isoformat(), "death_place": "Capannori"},
                        parties=[(person.pk, "deceased")])


def test_closing_numbers_each_register_from_one_without_gaps(tenant, person):
    other = _person(tenant, "P2", sex="F")
    third = _person(tenant, "P3", sex="F")
    first = _marriage(tenant, person, other)
    second = _marriage(tenant, person, third)
    assert (first.number, second.number) == (1, 2)
    assert first.is_closed and first.closed_at is not None
    # Another series, another year, another register: each starts from 1.
    assert _marriage(tenant, other, third, series="B").number == 1
    assert _marriage(tenant, other, third, day=dt.date(2021, 1, 9)).number == 1
    assert _death(tenant, third).number == 1
    # A closing that fails gives its number back (same transaction as the counter).
    draft = act_draft_create(tenant=tenant, actor=None, kind="marriage", act_date=dt.date(2020, 9, 9), office="X",
                             officer="Y", data={"marriage_date": "2020-09-09"},
                             parties=[(person.pk, "spouse"), (other.pk, "spouse")])
    with pytest.raises(RuntimeError), transaction.atomic():
        act_close(tenant=tenant, actor=None, act_id=draft.pk)
        raise RuntimeError("crash after numbering")
    assert CivilAct.objects.get(pk=draft.pk).number is None
    assert act_close(tenant=tenant, actor=None, act_id=draft.pk).number == 3


def test_numbers_follow_the_acts_already_in_the_register(tenant, person):
    other = _person(tenant, "P2", sex="F")
    CivilAct.objects.create(tenant=tenant, kind="marriage", year=2020, part="1", series="", number=40, office="X",
                            officer="Y", act_date=dt.date(2020, 1, 1), status="closed", closed_at=dt.datetime.now(dt.UTC),
                            legacy_id="A1")
    assert _marriage(tenant, person, other).number == 41


def test_a_closed_act_is_refused_by_the_services_and_corrected_by_annotation(tenant, person):
    other = _person(tenant, "P2", sex="F")
    act = _marriage(tenant, person, other)
    with pytest.raises(ValidationFailed) as exc:
        act_draft_update(tenant=tenant, actor=None, act_id=act.pk, text="altro")
    assert exc.value.code == "act_closed"
    with pytest.raises(ValidationFailed) as exc:
        act_close(tenant=tenant, actor=None, act_id=act.pk)
    assert exc.value.code == "act_closed"
    note = annotation_add(tenant=tenant, actor=None, act_id=act.pk, kind="rectification", date=dt.date(2021, 2, 2),
                          authority="Tribunale di Lucca", reference="decreto 12/2021", text="Nome della sposa: MARIA",
                          data={"field": "given_name", "value": "MARIA"})
    assert list(CivilAct.objects.get(pk=act.pk).annotations.all()) == [note]
    assert AuditEvent.objects.filter(object_type="civil_act_annotation", object_id=str(note.pk)).exists()


def test_drafts_change_annotations_need_a_closed_act_and_a_later_date(tenant, person):
    other = _person(tenant, "P2", sex="F")
    draft = act_draft_create(tenant=tenant, actor=None, kind="marriage", act_date=dt.date(2020, 6, 6), office="X",
                             officer="Y", data={"marriage_date": "2020-06-06"},
                             parties=[(person.pk, "spouse"), (other.pk, "spouse")])
    act_draft_update(tenant=tenant, actor=None, act_id=draft.pk, text="Testo corretto")
    assert CivilAct.objects.get(pk=draft.pk).text == "Testo corretto"
    with pytest.raises(ValidationFailed) as exc:
        annotation_add(tenant=tenant, actor=None, act_id=draft.pk, kind="divorce", date=dt.date(2022, 1, 1))
    assert exc.value.code == "act_not_closed"
    act_close(tenant=tenant, actor=None, act_id=draft.pk)
    with pytest.raises(ValidationFailed) as exc:
        annotation_add(tenant=tenant, actor=None, act_id=draft.pk, kind="divorce", date=dt.date(2019, 1, 1))
    assert exc.value.code == "dates_out_of_order"
    with pytest.raises(ValidationFailed) as exc:
        annotation_add(tenant=tenant, actor=None, act_id=draft.pk, kind="recognition", date=dt.date(2022, 1, 1))
    assert exc.value.code == "annotation_kind_invalid"


def test_act_data_is_validated_per_kind_and_parties_per_role(tenant, person):
    other = _person(tenant, "P2", sex="F")
    base = {"tenant": tenant, "actor": None, "act_date": dt.date(2020, 6, 6), "office": "X", "officer": "Y"}
    with pytest.raises(ValidationFailed) as exc:
        act_draft_create(kind="marriage", data={"marriage_date": "2020-06-06", "colour": "blue"},
                         parties=[(person.pk, "spouse"), (other.pk, "spouse")], **base)
    assert "colour" in exc.value.details
    with pytest.raises(ValidationFailed) as exc:
        act_draft_create(kind="death", data={"death_place": "X"}, parties=[(person.pk, "deceased")], **base)
    assert "death_date" in exc.value.details
    with pytest.raises(ValidationFailed) as exc:
        act_draft_create(kind="birth", data={"birth_date": "2020-06-01", "birth_time": "25:00", "family_name": "A",
                                             "given_name": "B"}, parties=[(person.pk, "subject")], **base)
    assert "birth_time" in exc.value.details
    with pytest.raises(ValidationFailed) as exc:
        act_draft_create(kind="marriage", data={"marriage_date": "2020-06-06"}, parties=[(person.pk, "spouse")], **base)
    assert exc.value.code == "act_parties_invalid"
    with pytest.raises(ValidationFailed) as exc:  # the same person twice
        act_draft_create(kind="marriage", data={"marriage_date": "2020-06-06"},
                         parties=[(person.pk, "spouse"), (person.pk, "spouse")], **base)
    assert exc.value.code in ("act_parties_invalid",)
    stranger = _person(make_tenant("Altrove"), "P9")
    with pytest.raises(ValidationFailed) as exc:  # a person of another municipality
        act_draft_create(kind="death", data={"death_date": "2020-06-01"}, parties=[(stranger.pk, "deceased")], **base)
    assert exc.value.code == "person_not_found"


def test_marriage_sets_both_spouses_married_and_divorce_annotation_divorced(tenant, person):
    bride = _person(tenant, "P2", sex="F")
    act = _marriage(tenant, person, bride)
    assert {p.civil_status for p in Person.objects.filter(pk__in=[person.pk, bride.pk])} == {2}
    annotation_add(tenant=tenant, actor=None, act_id=act.pk, kind="divorce", date=dt.date(2023, 5, 5),
                   authority="Tribunale di Lucca", reference="sentenza 99/2023")
    assert {p.civil_status for p in Person.objects.filter(pk__in=[person.pk, bride.pk])} == {4}


def test_civil_union_sets_status_and_dissolution_frees(tenant, person):
    partner = _person(tenant, "P2")
    act = act_register(tenant=tenant, actor=None, kind="civil_union", act_date=dt.date(2019, 4, 4), office="X",
                       officer="Y", data={"union_date": "2019-04-04", "witnesses": ["A B", "C D"]},
                       parties=[(person.pk, "partner"), (partner.pk, "partner")])
    assert Person.objects.get(pk=partner.pk).civil_status == 6
    annotation_add(tenant=tenant, actor=None, act_id=act.pk, kind="union_dissolution", date=dt.date(2022, 1, 1))
    assert Person.objects.get(pk=partner.pk).civil_status == 8


def test_death_closes_residence_and_household_widows_spouse_and_queues_anpr_notice(tenant, person, civico):
    spouse = _person(tenant, "P2", sex="F")
    household = Household.objects.create(tenant=tenant, legacy_id="H1")
    HouseholdMember.objects.create(tenant=tenant, household=household, person=person, relationship=1,
                                   joined_on=dt.date(2010, 1, 1))
    residence_move(tenant=tenant, actor=None, person_id=person.pk, house_number_id=civico.pk,
                   start_date=dt.date(2010, 1, 1), opening_event="registration", household_id=household.pk)
    _marriage(tenant, person, spouse)
    act = _death(tenant, person, died=dt.date(2024, 3, 1))

    person.refresh_from_db()
    assert person.death_date == dt.date(2024, 3, 1)
    residence = Residence.objects.get(person=person)
    assert (residence.end_date, residence.closing_event) == (dt.date(2024, 3, 1), "death")
    assert HouseholdMember.objects.get(person=person).left_on == dt.date(2024, 3, 1)
    assert Person.objects.get(pk=spouse.pk).civil_status == 3  # widowed
    notice = AnprNotification.objects.get(act=act)
    assert (notice.event, notice.status, notice.person_id) == ("death", "pending", person.pk)
    assert notice.payload["death_date"] == "2024-03-01" and notice.payload["residence_closed"] == residence.pk


def test_death_of_a_person_not_resident_still_queues_the_notice(tenant, person):
    act = _death(tenant, person)
    assert AnprNotification.objects.filter(act=act, person=person).count() == 1
    assert not Residence.objects.filter(person=person).exists()


@pytest.mark.postgres
def test_the_database_refuses_changes_to_closed_acts_their_parties_and_annotations(tenant, person):
    other = _person(tenant, "P2", sex="F")
    act = _marriage(tenant, person, other)
    note = annotation_add(tenant=tenant, actor=None, act_id=act.pk, kind="separation", date=dt.date(2021, 1, 1))
    for change in (
        lambda: CivilAct.objects.filter(pk=act.pk).update(text="riscritto"),
        lambda: CivilAct.objects.filter(pk=act.pk).update(number=99),
        lambda: CivilAct.objects.filter(pk=act.pk).update(data={"marriage_date": "2020-01-01"}),
        lambda: CivilAct.objects.filter(pk=act.pk).update(status="draft"),
        lambda: CivilAct.objects.filter(pk=act.pk).delete(),
        lambda: CivilActParty.objects.filter(act=act).update(person=other),
        lambda: CivilActParty.objects.create(tenant=tenant, act=act, person=other, role="witness"),
        lambda: CivilActParty.objects.filter(act=act).delete(),
        lambda: ActAnnotation.objects.filter(pk=note.pk).update(text="cancellato"),
        lambda: ActAnnotation.objects.filter(pk=note.pk).delete(),
    ):
        with pytest.raises(IntegrityError), transaction.atomic():
            change()
    # What ANSC gives back later may still be recorded; drafts stay editable.
    CivilAct.objects.filter(pk=act.pk).update(ansc_id="2026-1-2-3")
    assert CivilAct.objects.get(pk=act.pk).text == ""
    draft = act_draft_create(tenant=tenant, actor=None, kind="death", act_date=dt.date(2024, 1, 2), office="X",
                             officer="Y", data={"death_date": "2024-01-01"}, parties=[(other.pk, "deceased")])
    CivilAct.objects.filter(pk=draft.pk).update(text="bozza")
    CivilAct.objects.filter(pk=draft.pk).delete()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_closings_take_distinct_consecutive_numbers():
    tenant = make_tenant()
    people = [_person(tenant, f"C{i}") for i in range(7)]
    drafts = [act_draft_create(tenant=tenant, actor=None, kind="death", act_date=dt.date(2024, 1, 2), office="X",
                               officer="Y", data={"death_date": "2024-01-01"}, parties=[(p.pk, "deceased")])
              for p in people]
    barrier = threading.Barrier(len(drafts))
    errors: list[BaseException] = []

    def close(act_id):
        try:
            barrier.wait(timeout=10)
            act_close(tenant=tenant, actor=None, act_id=act_id)
        except BaseException as exc:  # surfaced below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=close, args=(d.pk,)) for d in drafts]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    numbers = sorted(CivilAct.objects.filter(tenant=tenant).values_list("number", flat=True))
    assert numbers == list(range(1, len(drafts) + 1))
