"""The register's own rules: residences point at civici of the street register, one person's
periods never overlap, codes come from ANPR's tables."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import IntegrityError, connection, transaction

from common.errors import ValidationFailed
from registry import codes
from registry.fiscal_code import encode, problem
from registry.models import HouseNumber, Residence
from registry.services import house_number_renumber, house_number_suppress, residence_close, residence_move

pytestmark = pytest.mark.django_db


def test_code_tables_ship_with_the_product_and_give_labels():
    assert codes.label("relationship", codes.HEAD_OF_HOUSEHOLD) == "Intestatario Scheda"
    assert codes.label("civil_status", 2) == "Coniugato/a"
    assert codes.toponym_species_by_name()["VIA"] == 213
    assert codes.foreign_states()["201"].belfiore_code == "Z100"
    assert not codes.is_valid("relationship", 14)  # ended in 2015: readable, never offered
    assert codes.is_valid("relationship", 14, in_force=False)


def test_fiscal_code_check_character_is_verified():
    good = encode(family_name="Rossi", given_name="Mario", sex="M", birth_date=dt.date(1980, 1, 1), place_code="H501")
    assert good == "RSSMRA80A01H501U" and problem(good) is None
    assert problem(good[:15] + "V") == "check_char"
    assert problem("RSSMRA80") == "shape"


def test_a_move_closes_the_current_residence_on_the_same_day(tenant, person, civico, street):
    other = HouseNumber.objects.create(tenant=tenant, street=street, code="C2", number=14)
    first = residence_move(tenant=tenant, actor=None, person_id=person.pk, house_number_id=civico.pk,
                           start_date=dt.date(2000, 1, 1), opening_event="registration")
    second = residence_move(tenant=tenant, actor=None, person_id=person.pk, house_number_id=other.pk,
                            start_date=dt.date(2010, 6, 1), opening_event="internal_move")
    first.refresh_from_db()
    assert (first.end_date, first.closing_event) == (dt.date(2010, 6, 1), "internal_move")
    assert second.end_date is None
    closed = residence_close(tenant=tenant, actor=None, person_id=person.pk, end_date=dt.date(2020, 1, 1),
                             closing_event="departure")
    assert closed.pk == second.pk and closed.closing_event == "departure"


def test_a_residence_needs_a_civico_of_this_municipality(tenant, other_tenant, person):
    from registry.models import Street

    foreign_street = Street.objects.create(tenant=other_tenant, code="V1", species=213, name="X", search_name="x")
    foreign = HouseNumber.objects.create(tenant=other_tenant, street=foreign_street, code="C1", number=1)
    with pytest.raises(ValidationFailed) as exc:
        residence_move(tenant=tenant, actor=None, person_id=person.pk, house_number_id=foreign.pk,
                       start_date=dt.date(2000, 1, 1), opening_event="registration")
    assert exc.value.code == "house_number_unknown"
    # The database holds the same line: no residence at a civico that does not exist (foreign keys
    # are checked at commit on PostgreSQL, so check them now).
    with pytest.raises(IntegrityError), transaction.atomic():
        Residence.objects.create(tenant=tenant, person=person, house_number_id=999_999, start_date=dt.date(2000, 1, 1),
                                 opening_event="registration")
        connection.check_constraints(table_names=["registry_residence"])


def test_a_move_dated_before_the_current_residence_is_refused(tenant, person, civico):
    residence_move(tenant=tenant, actor=None, person_id=person.pk, house_number_id=civico.pk,
                   start_date=dt.date(2010, 1, 1), opening_event="registration")
    with pytest.raises(ValidationFailed) as exc:
        residence_move(tenant=tenant, actor=None, person_id=person.pk, house_number_id=civico.pk,
                       start_date=dt.date(2005, 1, 1), opening_event="internal_move")
    assert exc.value.code == "dates_out_of_order"


def test_the_database_refuses_two_open_residences_and_dates_out_of_order(tenant, person, civico):
    Residence.objects.create(tenant=tenant, person=person, house_number=civico, start_date=dt.date(2000, 1, 1),
                             opening_event="registration")
    with pytest.raises(IntegrityError), transaction.atomic():
        Residence.objects.create(tenant=tenant, person=person, house_number=civico, start_date=dt.date(2001, 1, 1),
                                 opening_event="registration")
    with pytest.raises(IntegrityError), transaction.atomic():
        Residence.objects.create(tenant=tenant, person=person, house_number=civico, start_date=dt.date(1990, 1, 1),
                                 end_date=dt.date(1989, 1, 1), closing_event="departure", opening_event="registration")


@pytest.mark.postgres
def test_postgresql_refuses_overlapping_periods_of_one_person(tenant, person, civico):
    Residence.objects.create(tenant=tenant, person=person, house_number=civico, start_date=dt.date(2000, 1, 1),
                             end_date=dt.date(2005, 1, 1), closing_event="internal_move", opening_event="registration")
    # Adjacent periods are fine ([start, end) is half-open) ...
    Residence.objects.create(tenant=tenant, person=person, house_number=civico, start_date=dt.date(2005, 1, 1),
                             end_date=dt.date(2006, 1, 1), closing_event="internal_move", opening_event="internal_move")
    # ... overlapping ones are not, even when both are closed.
    with pytest.raises(IntegrityError), transaction.atomic():
        Residence.objects.create(tenant=tenant, person=person, house_number=civico, start_date=dt.date(2004, 1, 1),
                                 end_date=dt.date(2004, 6, 1), closing_event="internal_move", opening_event="other")


def test_a_civico_in_use_cannot_be_suppressed_but_can_be_renumbered(tenant, person, civico):
    residence_move(tenant=tenant, actor=None, person_id=person.pk, house_number_id=civico.pk,
                   start_date=dt.date(2000, 1, 1), opening_event="registration")
    with pytest.raises(ValidationFailed) as exc:
        house_number_suppress(tenant=tenant, house_number=civico, on=dt.date(2020, 1, 1))
    assert exc.value.code == "house_number_in_use"
    new = house_number_renumber(tenant=tenant, house_number=civico, code="C1B", number=12, suffix="A",
                                on=dt.date(2020, 1, 1))
    civico.refresh_from_db()
    assert civico.suppressed_on == dt.date(2020, 1, 1) and civico.replaced_by == new
    assert [e.kind for e in civico.events.all()] == ["renamed", "suppressed"]
    assert Residence.objects.get(person=person, end_date__isnull=True).house_number == new
