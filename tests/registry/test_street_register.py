"""Import of the municipality's street register CSV: valid rows in, every refused row with its
line and an Italian reason; renamings keep the former name."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from registry.models import Street
from registry.services import street_register_import

pytestmark = pytest.mark.django_db

CSV = """codice_via;specie;denominazione;codice_anncsu;localita;data_istituzione;data_soppressione
V1;VIA;Roma;123;Capoluogo;01/01/1950;
V2;213;Garibaldi;;;1960-05-01;
V3;STRADONA;Nuova;;;;
V4;PIAZZA;;;;;
V1;VIA;Doppione;;;;
V5;VIALE;Europa;;;01/13/2000;
V6;VICOLO;Corto;;;2000-01-01;1999-01-01
"""


def test_valid_rows_are_imported_and_each_refused_row_says_why(tenant):
    result = street_register_import(tenant=tenant, actor=None, text=CSV)
    assert (result.created, result.updated) == (2, 0)
    errors = dict(result.errors)
    assert sorted(errors) == [4, 5, 6, 7, 8]
    assert "Specie \"STRADONA\" non presente" in errors[4]
    assert "Denominazione mancante" in errors[5]
    assert "già usato alla riga 2" in errors[6]
    assert "non valida" in errors[7]
    assert "precede" in errors[8]
    street = Street.objects.get(tenant=tenant, code="V1")
    assert (street.species, street.name, street.anncsu_code) == (213, "ROMA", "123")


def test_a_renamed_street_keeps_its_former_name_and_re_import_changes_nothing(tenant):
    street_register_import(tenant=tenant, actor=None, text=CSV)
    renamed = CSV.replace("V1;VIA;Roma;", "V1;VIA;Roma Capitale;")
    result = street_register_import(tenant=tenant, actor=None, text=renamed)
    assert (result.created, result.updated) == (0, 1)
    street = Street.objects.get(tenant=tenant, code="V1")
    assert street.name == "ROMA CAPITALE" and street.former_names[0]["name"] == "ROMA"
    assert street_register_import(tenant=tenant, actor=None, text=renamed).updated == 0


def test_a_file_without_the_required_columns_is_refused_whole(tenant):
    result = street_register_import(tenant=tenant, actor=None, text="via,nome\n1,Roma\n")
    assert result.created == 0 and result.errors[0][0] == 1 and "codice_via" in result.errors[0][1]


def test_the_command_imports_into_the_named_municipality_only(tenant, other_tenant, tmp_path, capsys):
    path = tmp_path / "stradario.csv"
    path.write_text(CSV, encoding="utf-8")
    call_command("registry_streets_import", str(path), "--tenant", tenant.istat_code)
    assert "riga 4" in capsys.readouterr().out
    assert Street.objects.for_tenant(tenant).count() == 2 and Street.objects.for_tenant(other_tenant).count() == 0
