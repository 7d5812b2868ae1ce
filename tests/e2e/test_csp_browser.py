"""The Content-Security-Policy in a real browser: the pages that carry the most script (case page with
the BPMN diagram, Swagger UI) work under it without a single violation, and Swagger UI loads nothing
from another host."""

from __future__ import annotations

from urllib.parse import urlparse

import pytest
from django.core.management import call_command

from accounts.roles import Role
from cases.services import case_start
from tests.factories import declaration_payload, make_tenant, make_user

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

DECLARATION = declaration_payload()


def test_case_page_and_swagger_ui_run_under_the_policy_with_local_assets_only(browser, live_server):
    call_command("sync_processes", verbosity=0)
    tenant = make_tenant("Comune di Capannori", istat="046007", belfiore="B648")
    registrar = make_user(tenant, Role.REGISTRAR, Role.SUPERVISOR, username="csp.e2e")
    case = case_start(tenant=tenant, user=registrar, process_id="residence_change", data=DECLARATION)
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    violations: list[str] = []
    hosts: set[str] = set()
    page.on("console", lambda m: violations.append(f"{page.url}: {m.text}") if "Content Security Policy" in m.text else None)
    page.on("request", lambda r: hosts.add(urlparse(r.url).netloc) if r.url.startswith("http") else None)
    page.goto(f"{live_server.url}/accedi/")
    page.fill("#id_username", registrar.username)
    page.fill("#id_password", "pw-test-123")
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")
    page.goto(f"{live_server.url}/pratiche/{case.pk}/")
    page.wait_for_load_state("networkidle")
    page.goto(f"{live_server.url}/api/docs/")
    page.wait_for_selector(".swagger-ui .info .title", timeout=20000)
    assert "Procedo API" in page.locator(".swagger-ui .info .title").inner_text()
    assert violations == [], "\n".join(v[:300] for v in violations)
    assert hosts == {urlparse(live_server.url).netloc}
    page.close()
