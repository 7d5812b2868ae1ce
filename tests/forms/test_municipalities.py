"""ANPR's archive of municipalities: loaded, searched, resolved from what people type, enforced by
the forms (`"format": "municipality"`), and served to the picker."""

from __future__ import annotations

import json

import pytest
from django.core.management import CommandError, call_command
from django.http import QueryDict
from django.test import Client

from accounts.roles import Role
from forms import municipalities
from forms.models import Municipality
from forms.rendering import build_fields, parse_post
from forms.validation import validate_data
from tests.factories import make_tenant, make_user

pytestmark = pytest.mark.django_db

SCHEMA = {"type": "object", "properties": {"comune": {"type": "string", "format": "municipality", "title": "Comune"}}}


def test_the_archive_is_loaded_with_current_and_former_municipalities():
    assert Municipality.objects.count() > 19000
    assert 7800 < Municipality.objects.filter(current=True).count() < 8000
    capannori = Municipality.objects.get(istat_code="046007", current=True)
    assert (capannori.belfiore_code, capannori.province, capannori.label) == ("B648", "LU", "Capannori (LU)")
    abano = Municipality.objects.get(name="ABANO")
    assert not abano.current and abano.valid_to.year == 1924


def test_reloading_is_idempotent_and_a_wrong_file_is_refused(tmp_path):
    before = Municipality.objects.count()
    call_command("load_municipalities", verbosity=0)
    assert Municipality.objects.count() == before
    wrong = tmp_path / "comuni.csv"
    wrong.write_text("a,b\n1,2\n", encoding="utf-8")
    with pytest.raises(CommandError):
        call_command("load_municipalities", csv=str(wrong))
    with pytest.raises(CommandError):
        call_command("load_municipalities", csv=str(tmp_path / "missing.csv"))
    assert Municipality.objects.count() == before  # nothing lost on a failed load


def test_search_by_name_code_and_belfiore_one_entry_per_municipality():
    assert [m.label for m in municipalities.search("capan")] == ["Capannoli (PI)", "Capannori (LU)"]
    assert [m.label for m in municipalities.search("046007")] == ["Capannori (LU)"]
    assert [m.label for m in municipalities.search("b648")] == ["Capannori (LU)"]
    assert municipalities.search("c") == []
    assert "Bagni di Lucca (LU)" in [m.label for m in municipalities.search("lucca")]


@pytest.mark.parametrize("typed, code", [
    ("Capannori", "046007"), ("capannori", "046007"), ("Capannori (LU)", "046007"),
    ("Capannori (LU) · 046007", "046007"), ("046007", "046007"), ("B648", "046007"),
    ("Calliano", "022035"),  # only the Trentino one still has that name
    ("Castro", None), ("Castro (LE)", "075096"), ("Atlantide", None), ("", None),
])
def test_what_people_type_is_resolved_or_left_for_the_form_to_refuse(typed, code):
    found = municipalities.resolve(typed)
    assert (found.istat_code if found else None) == code


def test_forms_store_the_istat_code_and_refuse_an_unknown_one_in_italian():
    schema = json.dumps(SCHEMA)
    data = parse_post(SCHEMA, QueryDict("comune=Capannori"))
    assert data == {"comune": "046007"} and validate_data(schema, data) == {}
    bad = parse_post(SCHEMA, QueryDict("comune=Atlantide"))
    assert validate_data(schema, bad) == {"comune": ["Comune non trovato: sceglilo dall'elenco o indica il codice ISTAT."]}
    [field] = build_fields(SCHEMA, values={"comune": "046007"})
    assert field.widget == "municipality" and field.display_value == "Capannori (LU) · 046007"


def test_the_picker_endpoint_needs_a_login_and_lists_options():
    assert Client().get("/comuni/?q=capan").status_code == 302
    client = Client()
    client.force_login(make_user(make_tenant(), Role.REGISTRAR))
    page = client.get("/comuni/?q=capan&listbox=f-x-list").content.decode()
    assert page.count('role="option"') == 2 and 'id="f-x-list-opt-2"' in page and "046007" in page
    assert "cessato il 13/11/1924" in client.get("/comuni/?q=abano").content.decode()
    assert "Nessun comune trovato" in client.get("/comuni/?q=zzzz").content.decode()
    assert client.get("/comuni/?q=" + "x" * 5000 + "&listbox=<script>").status_code == 200


def test_the_shipped_archive_is_anprs_own(settings):
    """The product loads its own copy (it never reads the specs folder at run time): same rows as ANPR's."""
    import gzip
    from pathlib import Path

    from forms.municipalities import archive_path

    published = Path(settings.PROCEDO_SPECS_DIR) / "anpr" / "archivi" / "ANPR_archivio_comuni.csv"
    assert archive_path().is_relative_to(Path(settings.BASE_DIR))
    assert gzip.decompress(archive_path().read_bytes()) == published.read_bytes()


def test_a_fresh_machine_without_the_specs_folder_fills_the_table_on_migrate_and_on_reload(settings, tmp_path):
    """The migration and `load_municipalities` read the archive shipped in forms/data/ only."""
    import importlib

    from django.apps import apps

    settings.PROCEDO_SPECS_DIR = tmp_path / "empty"
    settings.PROCEDO_SPECS_DIR.mkdir()
    migration = importlib.import_module("forms.migrations.0003_load_municipalities")
    Municipality.objects.all().delete()
    migration.load(apps, None)
    assert Municipality.objects.count() == 19352
    assert Municipality.objects.filter(istat_code="046007", current=True).exists()
    Municipality.objects.all().delete()
    call_command("load_municipalities", verbosity=0)
    assert Municipality.objects.count() == 19352
