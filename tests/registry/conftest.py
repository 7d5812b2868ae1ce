"""Fixtures of the register's tests: a municipality with a small street register and people, and a
synthetic legacy export written to a temporary folder."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from registry.legacy.generate import generate
from registry.models import HouseNumber, Person, Street
from tests.factories import make_tenant, make_user


@pytest.fixture
def tenant(db):
    return make_tenant("Comune di Capannori")


@pytest.fixture
def other_tenant(db):
    return make_tenant("Comune di Altrove")


@pytest.fixture
def street(tenant):
    return Street.objects.create(tenant=tenant, code="V0001", species=213, name="ROMA", search_name="roma")


@pytest.fixture
def civico(tenant, street):
    return HouseNumber.objects.create(tenant=tenant, street=street, code="C1", number=12, created_on=dt.date(1970, 1, 1))


@pytest.fixture
def person(tenant):
    return Person.objects.create(tenant=tenant, legacy_id="P1", fiscal_code="RSSMRA80A01H501U", family_name="ROSSI",
                                 given_name="MARIO", search_name="rossi mario", sex="M", birth_date=dt.date(1980, 1, 1))


@pytest.fixture
def registrar(tenant):
    return make_user(tenant, "registrar")


@pytest.fixture
def supervisor(tenant):
    return make_user(tenant, "supervisor")


@pytest.fixture
def export(tmp_path) -> tuple[Path, dict]:
    """A small legacy export with every defect class; returns the folder and its manifest."""
    folder = tmp_path / "export"
    generate(folder, people=400, households=160, seed=7)
    return folder, json.loads((folder / "difetti.json").read_text(encoding="utf-8"))
