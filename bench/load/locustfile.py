"""Load drill scenario (issue 17): operators working their inboxes and completing residence-change tasks
through the API, read-only users on the pages, "citizens" opening cases. Users and their tokens/sessions
come from bench/load/seed.py (LOAD_USERS_FILE). Counts per class: LOAD_OPERATORS, LOAD_READERS,
LOAD_CITIZENS (the run script passes the total with -u)."""

from __future__ import annotations

import itertools
import json
import os
import random

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
    wait_time = between(2, 5)
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
        self.client.cookies.clear()
        with self.client.post(f"/api/v1/tasks/{item['id']}/complete/", json={"data": COMPLETION[item["bpmn_id"]]},
                              name="api: complete", catch_response=True, headers=self.api) as done:
            if done.status_code != 200:
                done.failure(f"{done.status_code} {done.text[:200]}")


class Reader(_Authenticated):
    """Read-only staff: inbox, case search, case pages."""

    fixed_count = _count("LOAD_READERS")
    wait_time = between(3, 8)
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


class Citizen(_Authenticated):
    """Declarations arriving from the portal: a new residence-change case each."""

    fixed_count = _count("LOAD_CITIZENS")
    wait_time = between(5, 15)
    pool = CITIZENS

    @task
    def declare(self) -> None:
        self.client.cookies.clear()
        with self.client.post("/api/v1/cases/", json={"process": "residence_change", "data": DECLARATION},
                              name="api: open case", catch_response=True, headers=self.api) as r:
            if r.status_code != 201:
                r.failure(f"{r.status_code} {r.text[:200]}")
                return
            known_cases.append(r.json()["id"])
        self.client.get(f"/api/v1/cases/{r.json()['id']}/", name="api: case", headers=self.api)
