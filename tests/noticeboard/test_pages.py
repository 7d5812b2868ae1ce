"""The public notice board pages (no login) and the office pages."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from audit.models import AuditEvent
from common import clock
from documents import storage
from noticeboard.models import Publication
from tests.noticeboard.conftest import blank_pdf
from tests.noticeboard.test_services import MONDAY, publish

pytestmark = pytest.mark.django_db


@pytest.fixture
def posted(board, signed_document):
    clock.freeze(MONDAY)
    current = publish(board, signed_document(), title="Pubblicazione di matrimonio Rossi - Bianchi",
                      body="Si rende noto che intendono celebrare matrimonio.")
    ordinance = publish(board, signed_document(), title="Ordinanza sulla viabilità di via Roma",
                        category="ordinanza", days=30)
    other = publish(board, signed_document(board["b"], board["b_registrar"]), tenant=board["b"],
                    actor=board["b_registrar"], title="Avviso del Comune di Pisa", category="avviso")
    return {"current": current, "ordinance": ordinance, "other": other}


def test_the_current_list_is_public_indexable_and_shows_only_this_tenants_publications(board, posted):
    page = Client().get(f"/albo/{board['a'].slug}/")
    html = page.content.decode()
    assert page.status_code == 200
    assert "Pubblicazione di matrimonio Rossi - Bianchi" in html and "Ordinanza sulla viabilità" in html
    assert "Avviso del Comune di Pisa" not in html
    assert 'name="robots"' not in html
    assert "script-src 'self'" in page["Content-Security-Policy"] and "unsafe-inline" not in page[
        "Content-Security-Policy"].split("script-src")[1].split(";")[0]
    assert "<script>" not in html  # no inline script
    other = Client().get(f"/albo/{board['b'].slug}/").content.decode()
    assert "Avviso del Comune di Pisa" in other and "Rossi - Bianchi" not in other


def test_an_unknown_board_or_a_publication_of_another_tenant_is_a_404(board, posted):
    assert Client().get("/albo/comune-che-non-esiste/").status_code == 404
    other = posted["other"]
    assert Client().get(f"/albo/{board['a'].slug}/{other.year}/{other.number + 5}/").status_code == 404
    assert Client().get(f"/albo/{board['a'].slug}/{other.year}/abc/").status_code == 404
    assert Client().get(f"/albo/{board['a'].slug}/{'9' * 30}/1/").status_code == 404
    assert Client().get(f"/albo/{board['a'].slug}/2026/-1/documento.pdf").status_code == 404


def test_search_by_text_category_and_dates(board, posted):
    base = f"/albo/{board['a'].slug}/"
    by_text = Client().get(base, {"q": "viabilità"}).content.decode()
    assert "Ordinanza sulla viabilità" in by_text and "Rossi - Bianchi" not in by_text
    by_category = Client().get(base, {"categoria": "pubblicazioni_matrimonio"}).content.decode()
    assert "Rossi - Bianchi" in by_category and "Ordinanza" not in by_category
    clock.advance(dt.timedelta(days=10))  # the banns ended on the 14th, the ordinance runs until 5 January
    by_dates = Client().get(base + "archivio/", {"dal": "2026-12-01", "al": "2026-12-10"}).content.decode()
    assert "Rossi - Bianchi" in by_dates
    assert "Rossi - Bianchi" not in Client().get(base + "archivio/", {"dal": "2026-12-15"}).content.decode()
    assert Client().get(base, {"dal": "not-a-date", "page": "x"}).status_code == 200


def test_pagination_of_a_long_list(board, signed_document):
    clock.freeze(MONDAY)
    for i in range(23):
        publish(board, signed_document(), title=f"Avviso numero {i + 1:02d}", category="avviso")
    first = Client().get(f"/albo/{board['a'].slug}/").content.decode()
    second = Client().get(f"/albo/{board['a'].slug}/", {"page": 2}).content.decode()
    assert first.count("publication-card") == 20 and second.count("publication-card") == 3
    assert "1 / 2" in first


def test_a_publication_page_shows_document_hash_and_dates_and_serves_the_pdf(board, posted):
    current = posted["current"]
    url = f"/albo/{board['a'].slug}/{current.year}/{current.number}/"
    html = Client().get(url).content.decode()
    assert current.document.sha256 in html and "07/12/2026" in html and "14/12/2026" in html
    assert 'name="robots"' not in html
    pdf = Client().get(url + "documento.pdf")
    assert pdf.status_code == 200 and pdf["Content-Type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF-") and pdf.content == storage.get(current.document.sha256)


def test_after_the_end_date_the_pages_say_noindex_and_the_archive_listing_too(board, posted):
    current = posted["current"]
    clock.advance(dt.timedelta(days=8))
    url = f"/albo/{board['a'].slug}/{current.year}/{current.number}/"
    assert "Rossi - Bianchi" not in Client().get(f"/albo/{board['a'].slug}/").content.decode()
    archive = Client().get(f"/albo/{board['a'].slug}/archivio/").content.decode()
    assert "Rossi - Bianchi" in archive and '<meta name="robots" content="noindex">' in archive
    page = Client().get(url).content.decode()
    assert '<meta name="robots" content="noindex">' in page
    assert Client().get(url + "documento.pdf")["X-Robots-Tag"] == "noindex"


def test_a_withdrawn_publication_shows_annullata_and_no_longer_offers_its_document(board, posted):
    from noticeboard.services import publication_withdraw

    current = posted["current"]
    publication_withdraw(publication=current, actor=board["supervisor"], reason="Richiesta degli sposi")
    url = f"/albo/{board['a'].slug}/{current.year}/{current.number}/"
    html = Client().get(url).content.decode()
    assert "Pubblicazione annullata" in html and "Richiesta degli sposi" in html
    assert "documento.pdf" not in html and '<meta name="robots" content="noindex">' in html
    assert Client().get(url + "documento.pdf").status_code == 404
    assert "annullata" in Client().get(f"/albo/{board['a'].slug}/").content.decode()


def test_the_public_page_speaks_english_when_asked(board, posted):
    client = Client()
    client.cookies["django_language"] = "en"
    html = client.get(f"/albo/{board['a'].slug}/").content.decode()
    assert "Online notice board" in html


def test_office_pages_are_for_registry_staff_of_the_tenant(board, posted):
    anonymous = Client().get("/gestione-albo/")
    assert anonymous.status_code == 302
    viewer = Client()
    viewer.force_login(board["viewer"])
    assert viewer.get("/gestione-albo/").status_code == 403
    staff = Client()
    staff.force_login(board["registrar"])
    listing = staff.get("/gestione-albo/").content.decode()
    assert "Rossi - Bianchi" in listing and "Avviso del Comune di Pisa" not in listing
    assert staff.get(f"/gestione-albo/{posted['other'].pk}/").status_code == 404


def test_office_publishes_an_uploaded_pdf_and_withdraws_it(board):
    clock.freeze(MONDAY)
    staff = Client()
    staff.force_login(board["registrar"])
    form = {"action": "publish", "source": "upload", "title": "Avviso di deposito", "body": "Atto depositato.",
            "category": "avviso", "start_date": "2026-12-07", "days": "15", "office": "Ufficio anagrafe",
            "responsible": "Laura Verdi"}
    refused = staff.post("/gestione-albo/nuova/", {**form, "body": "Mario Rossi RSSMRA80A01H501U",
                                                   "file": SimpleUploadedFile("a.pdf", blank_pdf())})
    assert refused.status_code == 200 and "codice fiscale" in refused.content.decode()
    assert not Publication.objects.exists()
    done = staff.post("/gestione-albo/nuova/", {**form, "file": SimpleUploadedFile("a.pdf", blank_pdf())})
    publication = Publication.objects.get()
    assert done.status_code == 302 and done["Location"] == f"/gestione-albo/{publication.pk}/"
    assert publication.end_date == dt.date(2026, 12, 21) and publication.created_by == board["registrar"]
    staff.post(f"/gestione-albo/{publication.pk}/annulla/", {"reason": "Atto sostituito"})
    publication.refresh_from_db()
    assert publication.withdrawal_reason == "Atto sostituito"
    assert set(AuditEvent.objects.filter(object_type="publication").values_list("action", flat=True)) == {
        "create", "update"}


def test_office_publishes_a_signed_document_of_a_case(board, signed_document):
    from cases.services import case_start
    from tests.engine_models import publish_bundle

    clock.freeze(MONDAY)
    publish_bundle("three_tasks")
    case = case_start(tenant=board["a"], user=board["registrar"], process_id="three_tasks", data={})
    deed = signed_document()
    deed.case = case
    deed.save(update_fields=["case"])
    staff = Client()
    staff.force_login(board["registrar"])
    found = staff.post("/gestione-albo/nuova/", {"action": "find", "source": "case", "case_number": case.number})
    assert f'value="{deed.pk}"' in found.content.decode()
    done = staff.post("/gestione-albo/nuova/", {
        "action": "publish", "source": "case", "case_number": case.number, "document_id": str(deed.pk),
        "title": "Atto di pubblicazione", "category": "pubblicazioni_matrimonio", "start_date": "2026-12-07",
        "days": "8", "office": "Stato civile", "responsible": "Laura Verdi"})
    assert done.status_code == 302
    assert Publication.objects.get().case == case


def test_the_demo_municipalities_have_a_current_an_ended_and_a_scheduled_publication(nb_settings):
    from django.core.management import call_command

    from accounts.demo import load_demo_accounts
    from noticeboard import selectors

    tenants = load_demo_accounts()
    call_command("load_demo_noticeboard")
    call_command("load_demo_noticeboard")  # safe to run twice
    tenant = tenants["capannori"]
    assert Publication.objects.filter(tenant=tenant).count() == 3
    assert [p.category for p in selectors.publication_public_current(tenant=tenant)] == ["pubblicazioni_matrimonio"]
    assert [p.category for p in selectors.publication_public_archive(tenant=tenant)] == ["ordinanza"]
    html = Client().get("/albo/capannori/").content.decode()
    assert "Luca Neri e Giulia Conti" in html and "scrutatori" not in html


def test_the_menu_leads_registry_staff_to_the_office_page(board):
    staff = Client()
    staff.force_login(board["registrar"])
    assert 'href="/gestione-albo/"' in staff.get("/gestione-albo/").content.decode()
    viewer = Client()
    viewer.force_login(board["viewer"])
    assert 'href="/gestione-albo/"' not in viewer.get("/fascicoli/").content.decode()
