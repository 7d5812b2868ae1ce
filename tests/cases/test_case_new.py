"""Opening a case from the browser: the procedure's start form, nested address, repeated
declarants, municipality by name; errors in Italian next to the fields; who may open."""

from __future__ import annotations

import pytest
from django.test import Client

from cases.models import Case

pytestmark = pytest.mark.django_db

URL = "/pratiche/nuova/residence_change/"
VALID = {
    "declarants.0.fiscal_code": "RSSMRA80A01H501U", "declarants.0.given_name": "Mario",
    "declarants.0.family_name": "Rossi", "new_address.street": "Via Roma", "new_address.house_number": "12",
    "new_address.municipality_istat": "Capannori (LU)", "declaration_date": "20/11/2026", "origin": "abroad",
}


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_the_start_form_opens_a_case(office):
    client = _client(office["registrar"])
    listing = client.get("/pratiche/nuova/").content.decode()
    assert "Cambio di residenza" in listing and "Nuova pratica" in client.get("/pratiche/").content.decode()
    form = client.get(URL).content.decode()
    assert 'name="new_address.street"' in form and 'name="declarants.0.fiscal_code"' in form
    assert "<legend" in form and 'role="combobox"' in form
    response = client.post(URL, VALID, follow=True)
    case = Case.objects.get(tenant=office["tenant"])
    assert f"Aperta la pratica {case.number}" in response.content.decode()
    assert case.data["new_address"] == {"street": "Via Roma", "house_number": "12", "municipality_istat": "046007"}
    assert case.data["declarants"][0]["fiscal_code"] == "RSSMRA80A01H501U" and case.data["origin"] == "abroad"
    assert "20/11/2026" in response.content.decode()  # dates shown the Italian way


def test_errors_are_shown_next_to_the_fields_and_nothing_is_lost(office):
    bad = {**VALID, "declarants.0.fiscal_code": "RSSMRA80A01H501X", "new_address.municipality_istat": "Atlantide"}
    response = _client(office["registrar"]).post(URL, bad)
    body = response.content.decode()
    assert response.status_code == 400 and "Codice fiscale non valido" in body and "Comune non trovato" in body
    assert 'value="Via Roma"' in body and not Case.objects.exists()


def test_only_staff_who_open_cases_get_the_form(office):
    viewer = _client(office["viewer"])
    assert viewer.get("/pratiche/nuova/").status_code == 403
    assert viewer.get(URL).status_code == 404
    assert viewer.post(URL, VALID).status_code == 404 and not Case.objects.exists()
    assert "Nuova pratica" not in viewer.get("/pratiche/").content.decode()
    assert _client(office["registrar"]).get("/pratiche/nuova/inesistente/").status_code == 404


def test_a_wrong_date_is_explained_in_the_format_people_type(office):
    response = _client(office["registrar"]).post(URL, {**VALID, "declaration_date": "31/02/2026"})
    assert "Data non valida: usa il formato GG/MM/AAAA." in response.content.decode()
