"""'Segnala un problema': any operator opens a malfunction ticket from any page; what is captured is
cleaned (a path of this site, a case the reporter may see, the browser); a screenshot is checked by
its content before the ticket opens."""

import pytest
from django.test import Client

from accounts.roles import Role
from cases.models import Case
from documents.models import Document
from support.capture import clean_page
from tests.factories import CaseFactory, make_tenant, make_user

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


@pytest.mark.parametrize(("given", "kept"), [
    ("/pratiche/12/?tab=documenti", "/pratiche/12/?tab=documenti"),
    ("https://evil.example/phish", ""), ("//evil.example/x", ""), ("javascript:alert(1)", ""),
    ("/\\evil.example/x", ""), ("/%5Cevil", "/%5Cevil"),
    ("/ok\r\nSet-Cookie: x", "/okSet-Cookie: x"), ("", ""),
])
def test_only_paths_of_this_site_are_kept(given, kept):
    assert clean_page(given) == kept


@pytest.fixture
def office():
    tenant = make_tenant("Comune di Lucca", istat="046017")
    return {"tenant": tenant, "registrar": make_user(tenant, Role.REGISTRAR)}


def _post(user, **fields):
    client = Client(HTTP_USER_AGENT="Mozilla/5.0 Firefox/128.0")
    client.force_login(user)
    return client, client.post("/assistenza/segnala/", fields)


def test_operator_reports_from_a_case_page_with_a_screenshot(office, tmp_path):
    other = CaseFactory(tenant=office["tenant"], user=office["registrar"])
    shot = tmp_path / "schermata.png"
    shot.write_bytes(PNG)
    client = Client(HTTP_USER_AGENT="Mozilla/5.0 Firefox/128.0")
    client.force_login(office["registrar"])
    page = client.get(f"/assistenza/segnala/?da=/pratiche/{other.pk}/")
    assert page.status_code == 200 and "Livello 4" in page.content.decode()
    with shot.open("rb") as fh:
        response = client.post("/assistenza/segnala/", {
            "level": "3", "summary": "Il pulsante non risponde", "description": "Cliccando non succede nulla",
            "page_url": f"/pratiche/{other.pk}/", "screenshot": fh})
    assert response.status_code == 302 and response["Location"] == f"/pratiche/{other.pk}/"
    ticket = Case.objects.get(process_id="malfunction_ticket")
    assert ticket.data["page_url"] == f"/pratiche/{other.pk}/"
    assert ticket.data["related_case"] == other.number
    assert "Firefox/128.0" in ticket.data["browser"]
    assert Document.objects.filter(case=ticket, kind="schermata", mime="image/png").count() == 1


def test_a_screenshot_that_is_not_an_image_opens_nothing(office, tmp_path):
    fake = tmp_path / "schermata.png"
    fake.write_bytes(b"<html><script>alert(1)</script></html>")
    client = Client()
    client.force_login(office["registrar"])
    with fake.open("rb") as fh:
        response = client.post("/assistenza/segnala/", {"level": "4", "summary": "Errore", "description": "Errore",
                                                        "page_url": "/", "screenshot": fh})
    assert response.status_code == 400
    assert not Case.objects.filter(process_id="malfunction_ticket").exists()


def test_invalid_level_is_refused_and_support_cannot_report(office):
    _client, response = _post(office["registrar"], level="9", summary="Errore", description="Errore", page_url="/")
    assert response.status_code == 400
    assert not Case.objects.filter(process_id="malfunction_ticket").exists()
    support = make_user(office["tenant"], Role.SUPPORT)
    _client, response = _post(support, level="4", summary="Errore", description="Errore", page_url="/")
    assert response.status_code == 403
