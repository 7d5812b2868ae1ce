"""Content-Security-Policy (issue 17, finding 7): every page carries a policy that runs scripts only
from our own files, and no page the product renders contains an inline script, an inline event
handler or an inline style the policy would have to allow. Swagger UI loads nothing from a CDN."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest
from django.test import Client

from accounts.roles import Role
from cases.models import WorkItem
from cases.services import case_start
from tests.engine_models import publish_bundle
from tests.factories import login_with_second_factor, make_tenant, make_user

pytestmark = pytest.mark.django_db


class _InlineFinder(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.problems: list[str] = []
        self.urls: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        for name, value in attrs:
            if name.startswith("on"):
                self.problems.append(f"<{tag} {name}=…> inline handler")
            if name == "style":
                self.problems.append(f"<{tag} style=…> inline style")
            if name in ("src", "href") and value:
                self.urls.append(value)
            if value and value.strip().lower().startswith("javascript:"):
                self.problems.append(f"<{tag} {name}=javascript:…>")
        if tag == "style":
            self.problems.append("<style> element")
        if tag == "script":
            if not attributes.get("src"):
                self.problems.append("<script> without src")
            self._in_script = True

    def handle_endtag(self, tag):
        if tag == "script":
            self._in_script = False

    def handle_data(self, data):
        if self._in_script and data.strip():
            self.problems.append(f"inline script body: {data.strip()[:60]}")


def _inline_problems(html: str) -> tuple[list[str], list[str]]:
    finder = _InlineFinder()
    finder.feed(html)
    return finder.problems, finder.urls


@pytest.fixture
def staff_client():
    publish_bundle("three_tasks")
    tenant = make_tenant("Comune CSP")
    user = make_user(tenant, Role.SUPERVISOR, Role.REGISTRAR, Role.PROCESS_ADMIN)
    case = case_start(tenant=tenant, user=user, process_id="three_tasks", data={})
    client = Client()
    login_with_second_factor(client, user)
    task = WorkItem.objects.filter(case=case).first()
    return client, case, task


def test_every_main_page_has_the_policy_and_no_inline_script(staff_client):
    client, case, task = staff_client
    paths = ["/", "/pratiche/", f"/pratiche/{case.pk}/", "/fascicoli/", "/squadra/",
             "/amministrazione/utenti/", "/amministrazione/incidenti/", "/amministrazione/ente/",
             "/amministrazione/modelli/", "/sicurezza/due-fattori/", "/password/"]
    if task is not None:
        paths.append(f"/compiti/{task.pk}/")
    for path in paths:
        page = client.get(path)
        assert page.status_code == 200, path
        policy = page["Content-Security-Policy"]
        assert "script-src 'self'" in policy and "unsafe-inline" not in policy and "frame-ancestors 'none'" in policy
        problems, _urls = _inline_problems(page.content.decode())
        assert not problems, f"{path}: {problems}"


def test_the_login_and_enrolment_pages_have_no_inline_script_either():
    tenant = make_tenant("Comune CSP 2")
    admin = make_user(tenant, Role.PROCESS_ADMIN)
    anonymous = Client().get("/accedi/")
    assert "Content-Security-Policy" in anonymous
    assert _inline_problems(anonymous.content.decode())[0] == []
    client = Client()
    client.force_login(admin)
    enrolment = client.get("/sicurezza/due-fattori/")
    assert enrolment.status_code == 200
    assert _inline_problems(enrolment.content.decode())[0] == []  # the QR code is an SVG without style=


def test_an_injected_script_would_not_run_under_the_policy():
    policy = Client().get("/accedi/")["Content-Security-Policy"]
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
    assert directives["script-src"] == "'self'"  # no 'unsafe-inline', no 'unsafe-eval', no host
    assert directives["object-src"] == "'none'"
    assert directives["base-uri"] == "'self'"


def test_swagger_ui_is_served_locally_without_inline_script(staff_client):
    client, _case, _task = staff_client
    page = client.get("/api/docs/")
    assert page.status_code == 200
    problems, urls = _inline_problems(page.content.decode())
    assert not problems
    assert urls and all(u.startswith("/") and not u.startswith("//") for u in urls), urls
    for url in urls:
        assert client.get(url).status_code == 200, url
    script = client.get("/api/docs/?script=")
    assert script.status_code == 200 and "SwaggerUIBundle" in script.content.decode()
