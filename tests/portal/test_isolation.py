"""A citizen can never reach another person's case, document, payment or certificate request through
any page of the citizen area, and no page shows an operator's name, username or internal note.

Every URL pattern of portal/urls.py is listed here (a test fails when a new one is not), each page
is opened by the owner (it works) and by another citizen (404), GET and POST."""

from __future__ import annotations

import pytest

from cases.services import comment_add
from portal import services
from portal.models import CertificateRequest
from tests.portal.conftest import citizen_client, clean_pdf, declaration_for

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

# name -> (which object the URL names, methods to try as a stranger)
OBJECT_URLS = {
    "submitted": ("case", ["get"]),
    "case": ("case", ["get"]),
    "case_reply": ("case", ["post"]),
    "case_withdraw": ("case", ["post"]),
    "document": ("document", ["get"]),
    "payment_pay": ("position", ["post"]),
    "payment_return": ("position", ["get"]),
    "payment_notice": ("position", ["get"]),
    "certificate": ("certificate", ["get"]),
}
OWN_URLS = {"home", "catalogue", "service", "request_step", "request_attachments", "request_summary", "cases",
            "documents", "payments", "certificates", "preferences"}


@pytest.fixture
def world(town, sims, portal_settings):
    tenant, owner = town["tenant"], town["citizen"]
    draft = services.draft_for(tenant=tenant, user=owner, process_id="residence_change")
    services.draft_save(draft=draft, data=declaration_for(), step=3)
    services.draft_attachment_add(draft=draft, user=owner, data=clean_pdf(), filename="contratto.pdf", label="")
    submission = services.submission_submit(tenant=tenant, user=owner, process_id="residence_change")
    case = submission.case
    # An office note and an operator's step: never for the citizen's eyes.
    comment_add(case=case, user=town["registrar"], text="NOTA-INTERNA-SEGRETA sul dichiarante")
    cert_request = services.certificate_request_create(tenant=tenant, user=owner, kind="cittadinanza")
    return {"case": case.pk, "document": submission.receipt_id, "position": cert_request.position_id,
            "certificate": cert_request.pk, "town": town}


def test_every_portal_url_is_covered_here():
    from portal import urls

    assert {p.name for p in urls.urlpatterns} == set(OBJECT_URLS) | OWN_URLS


@pytest.mark.parametrize("name", sorted(OBJECT_URLS))
def test_another_citizen_gets_404_for_every_object_url(world, name):
    from django.urls import reverse

    kind, methods = OBJECT_URLS[name]
    key = "case_id" if name == "submitted" else "pk"
    url = reverse(f"portal:{name}", kwargs={key: world[kind]})
    stranger = citizen_client(world["town"]["other_citizen"])
    for method in methods:
        response = getattr(stranger, method)(url, {"message": "citizen_reply", "text": "x", "confirm": "1"}
                                              if method == "post" else None)
        assert response.status_code == 404, (name, method, response.status_code)
    owner = citizen_client(world["town"]["citizen"])
    if "get" in methods:
        assert owner.get(url).status_code in (200, 302), name


@pytest.mark.parametrize("name", sorted(OWN_URLS))
def test_no_page_shows_operators_or_internal_notes(world, name):
    from django.urls import reverse

    town = world["town"]
    args = {"process_id": "residence_change"} if name in ("service", "request_step", "request_attachments",
                                                           "request_summary") else {}
    pages = [reverse(f"portal:{name}", kwargs=args)]
    pages += [f"/area-personale/pratiche/{world['case']}/", f"/area-personale/certificati/{world['certificate']}/"]
    owner = citizen_client(town["citizen"])
    for url in pages:
        response = owner.get(url)
        assert response.status_code == 200, (url, response.status_code)
        html = response.content.decode()
        assert "NOTA-INTERNA-SEGRETA" not in html, url
        for staff in ("registrar", "police", "supervisor"):
            assert town[staff].username not in html, (url, staff)
        assert town["other_citizen"].fiscal_code not in html, url


def test_staff_are_not_citizens_here(world):
    from tests.factories import second_factor_client

    registrar = second_factor_client(world["town"]["registrar"])
    assert registrar.get("/area-personale/").status_code == 403
    assert registrar.get(f"/area-personale/pratiche/{world['case']}/").status_code == 403


def test_a_citizen_of_another_municipality_sees_nothing_here(world, other_office):
    from accounts.models import Membership

    stranger = world["town"]["other_citizen"]
    Membership.objects.filter(user=stranger).delete()
    Membership.objects.create(user=stranger, tenant=other_office["tenant"], role="citizen")
    client = citizen_client(stranger)
    assert client.get(f"/area-personale/pratiche/{world['case']}/").status_code == 404
    assert client.get(f"/area-personale/documenti/{world['document']}/").status_code == 404
    assert not CertificateRequest.objects.filter(user=stranger).exists()


def test_submitting_needs_spid_level_2(world):
    client = citizen_client(world["town"]["citizen"], level="SpidL1")
    response = client.get("/area-personale/servizi/residence_change/domanda/")
    assert response.status_code == 302 and "livello=SpidL2" in response["Location"]
    assert client.get("/area-personale/certificati/").status_code == 302
