"""Load drill scenario (issue 17): operators working their inboxes and completing residence-change tasks
through the API, read-only users on the pages, citizens signed in with SPID (demo IdP) on their own pages
and filing declarations. Users and their tokens/sessions
come from bench/load/seed.py (LOAD_USERS_FILE). Counts per class: LOAD_OPERATORS, LOAD_READERS,
LOAD_CITIZENS (the run script passes the total with -u)."""

from __future__ import annotations

import itertools
import json
import os
import random
import re
import urllib.parse

import gevent
from locust import HttpUser, between, task

USERS = json.loads(open(os.environ["LOAD_USERS_FILE"]).read())  # noqa: SIM115, PTH123
TENANT = USERS["tenant"]
OPERATORS = itertools.cycle(USERS["registrars"] + USERS["police"])
READERS = itertools.cycle(USERS["readers"])
CITIZENS = itertools.cycle(USERS["citizens"])
DECLARATION = {
    "declarants": [{"fiscal_code": "RSSMRA80A01H501U", "given_name": "Mario", "family_name": "Rossi"}],
    "new_address": {"street": "Via Roma", "house_number": "12", "municipality_istat": "046007"},
    "declaration_date": "2026-03-01",
}
COMPLETION = {
    "registration": {"origin": "same_municipality", "documents_checked": True},
    "police_verification": {"outcome": "positive", "visit_date": "2026-03-10", "found_at_address": True},
}
known_cases: list[int] = list(USERS["case_ids"])


def _count(name: str) -> int:
    return int(os.environ.get(name, "0"))


# Think times, seconds (bench/load/README.md says why): how long a person looks at a page before the next
# click. Not tuned to the server: taken from what each kind of user does with the page in front of them.
OPERATOR_BETWEEN = (5, 20)   # back to the inbox, pick the next task
OPERATOR_FILL = (20, 60)     # read the case behind the task and fill its form, then complete it
READER_BETWEEN = (5, 30)     # scan a result list (seconds) or read a case page (tens of seconds)
CITIZEN_BETWEEN = (10, 40)   # read the status of their case, the list of their requests
CITIZEN_FILL = (60, 180)     # fill in a residence-change declaration (people, address, date)


def think(bounds: tuple[int, int]) -> None:
    gevent.sleep(random.uniform(*bounds))


class _Authenticated(HttpUser):
    abstract = True
    pool = READERS

    def on_start(self) -> None:
        me = next(self.pool)
        self.me = me
        self.client.headers.update({"X-Procedo-Tenant": TENANT})
        self.api = {"Authorization": f"Token {me['token']}"}

    def page(self, url: str, name: str) -> None:
        # Pages authenticate by session cookie (seeded), the API by token only: a session cookie on an API
        # call would make DRF ask for a CSRF token, as it should for a browser.
        self.client.cookies.clear()
        with self.client.get(url, name=name, catch_response=True, allow_redirects=False,
                             cookies={"sessionid": self.me["session"]}) as r:
            if r.status_code != 200:
                r.failure(f"{r.status_code}")


class Operator(_Authenticated):
    """Registrars and police officers: inbox page, available tasks, claim, case page, complete."""

    fixed_count = _count("LOAD_OPERATORS")
    wait_time = between(*OPERATOR_BETWEEN)
    pool = OPERATORS

    @task(2)
    def inbox(self) -> None:
        self.page("/", "page: inbox")

    @task(5)
    def work_a_task(self) -> None:
        self.client.cookies.clear()
        r = self.client.get("/api/v1/tasks/?scope=available&limit=10", name="api: tasks available", headers=self.api)
        if r.status_code != 200:
            return
        tasks = [t for t in r.json().get("results", []) if t["bpmn_id"] in COMPLETION and not t["assignee"]]
        if not tasks:
            return
        item = random.choice(tasks)
        with self.client.post(f"/api/v1/tasks/{item['id']}/claim/", name="api: claim", catch_response=True,
                              headers=self.api) as c:
            if c.status_code == 409:  # a colleague was faster: the correct answer, not an error
                c.success()
                return
            if c.status_code != 200:
                c.failure(f"{c.status_code} {c.text[:200]}")
                return
        self.page(f"/compiti/{item['id']}/", "page: task")
        think(OPERATOR_FILL)
        self.client.cookies.clear()
        with self.client.post(f"/api/v1/tasks/{item['id']}/complete/", json={"data": COMPLETION[item["bpmn_id"]]},
                              name="api: complete", catch_response=True, headers=self.api) as done:
            if done.status_code != 200:
                done.failure(f"{done.status_code} {done.text[:200]}")


class Reader(_Authenticated):
    """Read-only staff: inbox, case search, case pages, person pages of the population register."""

    fixed_count = _count("LOAD_READERS")
    wait_time = between(*READER_BETWEEN)
    pool = READERS

    @task(2)
    def inbox(self) -> None:
        self.page("/", "page: inbox")

    @task(2)
    def search(self) -> None:
        self.page(random.choice(["/pratiche/?fiscal_code=RSSMRA80A01H501U", "/pratiche/?status=open",
                                 "/pratiche/?process=residence_change", "/pratiche/"]), "page: case search")

    @task(3)
    def case(self) -> None:
        self.page(f"/pratiche/{random.choice(known_cases)}/", "page: case")

    @task(1)
    def person(self) -> None:
        if USERS.get("person_ids"):
            self.page(f"/anagrafe/persone/{random.choice(USERS['person_ids'])}/", "page: person")


class Citizen(HttpUser):
    """Citizens on their own pages: they sign in with SPID through the demo identity provider (the real
    SAML flow: signed AuthnRequest, the IdP's form, the signed Response posted to the ACS), look at their
    personal area (/area-personale/: home, their cases, the public view of each), and file
    residence-change declarations in which they are the declarant (the portal channel: the API with their
    session and its CSRF token) after the time it takes to fill one in."""

    fixed_count = _count("LOAD_CITIZENS")
    wait_time = between(*CITIZEN_BETWEEN)

    def on_start(self) -> None:
        self.me = next(CITIZENS)
        self.client.headers.update({"X-Procedo-Tenant": TENANT})
        self.cases: list[int] = []
        self.signed_in = self.sign_in()

    def sign_in(self) -> bool:
        start = self.client.get("/spid/accedi/avvia/", params={"idp": USERS["demo_idp"], "livello": "SpidL2"},
                                name="citizen: SPID request", allow_redirects=False)
        if start.status_code != 302:
            return False
        query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(start.headers["Location"]).query))
        self.client.get("/demo-idp/sso/", params=query, name="citizen: SPID identity provider")
        answer = self.client.post("/demo-idp/sso/", data={**query, "identity": self.me["fiscal_code"],
                                                          "level": "SpidL2"}, name="citizen: SPID identity provider")
        fields = dict(re.findall(r'name="(SAMLResponse|RelayState)" value="([^"]*)"', answer.text))
        with self.client.post("/spid/acs/", data=fields, name="citizen: SPID assertion", allow_redirects=False,
                              catch_response=True) as done:
            if done.status_code != 302:
                done.failure(f"{done.status_code} {done.text[:200]}")
                return False
        self.page("/spid/benvenuto/", "page: SPID welcome")  # also sets the CSRF cookie (its logout form)
        return True

    def page(self, url: str, name: str) -> None:
        with self.client.get(url, name=name, catch_response=True, allow_redirects=False) as r:
            if r.status_code != 200:
                r.failure(f"{r.status_code}")

    @task(1)
    def area(self) -> None:
        if self.signed_in:
            self.page("/area-personale/", "page: citizen area")

    @task(3)
    def my_cases(self) -> None:
        if self.signed_in:
            self.page("/area-personale/pratiche/", "page: citizen cases")

    @task(3)
    def my_case(self) -> None:
        if self.signed_in and self.cases:
            self.page(f"/area-personale/pratiche/{random.choice(self.cases)}/", "page: citizen case")

    @task(2)
    def declare(self) -> None:
        if not self.signed_in:
            return
        think(CITIZEN_FILL)
        declaration = {**DECLARATION, "declarants": [
            {"fiscal_code": self.me["fiscal_code"], "given_name": self.me["given_name"],
             "family_name": self.me["family_name"]}]}
        headers = {"X-CSRFToken": self.client.cookies.get("csrftoken", ""), "Referer": self.host + "/spid/benvenuto/"}
        with self.client.post("/api/v1/cases/", json={"process": "residence_change", "data": declaration},
                              name="citizen: file a declaration", catch_response=True, headers=headers) as r:
            if r.status_code != 201:
                r.failure(f"{r.status_code} {r.text[:200]}")
                return
            self.cases.append(r.json()["id"])
