"""Per-page cost of the pages the load drill exercises, in-process (Django test client, no network):
SQL statements, ms in SQL, ms rendering templates (SQL run from templates included), ms in the rest
of Python, the CPU time of this process (the figure least disturbed by other load on the machine), and
the total, as medians over REPEAT requests after one warm-up.

Runs against a database seeded by bench/load/seed.py (the users file it wrote is the first argument):

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/procedo_h7_prof PROCEDO_ENV=demo DEBUG=0 \
        .venv/bin/python bench/load/pages.py /tmp/users.json [--profile "page: case"]
"""

from __future__ import annotations

import cProfile
import json
import os
import pstats
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("PROCEDO_ENV", "demo")

import django  # noqa: E402

django.setup()

from django.db import connection  # noqa: E402
from django.template import base as template_base  # noqa: E402
from django.test import Client  # noqa: E402

REPEAT = int(os.environ.get("REPEAT", "20"))


class Meter:
    """SQL count and time through the connection's execute wrapper; template time around the outermost
    Template.render (nested renders — includes — are inside it)."""

    def __init__(self) -> None:
        self.sql_n = 0
        self.sql_s = 0.0
        self.tpl_s = 0.0
        self._depth = 0
        self._render = template_base.Template.render

    def _sql(self, execute, sql, params, many, context):
        t0 = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self.sql_s += time.perf_counter() - t0
            self.sql_n += 1

    def __enter__(self) -> Meter:
        meter, original = self, self._render

        def render(tpl, context):
            if meter._depth:
                return original(tpl, context)
            meter._depth += 1
            t0 = time.perf_counter()
            try:
                return original(tpl, context)
            finally:
                meter.tpl_s += time.perf_counter() - t0
                meter._depth -= 1

        template_base.Template.render = render
        self._wrap = connection.execute_wrapper(self._sql)
        self._wrap.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self._wrap.__exit__(*exc)
        template_base.Template.render = self._render


def clients(users: dict) -> dict[str, Client]:
    from accounts.models import Membership, Tenant, User
    from identity.services import CITIZEN_USERNAME_PREFIX

    tenant = users["tenant"]
    out = {}
    for kind, who in (("reader", users["readers"][0]), ("operator", users["registrars"][0])):
        c = Client(HTTP_X_PROCEDO_TENANT=tenant, HTTP_HOST="127.0.0.1")
        c.cookies["sessionid"] = who["session"]
        out[kind] = c
    person = users["citizens"][0]
    citizen, _ = User.objects.get_or_create(username=f"{CITIZEN_USERNAME_PREFIX}{person['fiscal_code']}",
                                            defaults={"fiscal_code": person["fiscal_code"],
                                                      "first_name": person["given_name"],
                                                      "last_name": person["family_name"]})
    Membership.objects.get_or_create(user=citizen, tenant=Tenant.objects.get(istat_code=tenant), role="citizen")
    c = Client(HTTP_X_PROCEDO_TENANT=tenant, HTTP_HOST="127.0.0.1")
    c.force_login(citizen)
    out["citizen"] = c
    return out


def citizen_case(users: dict) -> int:
    from accounts.models import Tenant, User
    from cases.models import Case
    from cases.services import case_start
    from identity.services import CITIZEN_USERNAME_PREFIX

    person = users["citizens"][0]
    citizen = User.objects.get(username=f"{CITIZEN_USERNAME_PREFIX}{person['fiscal_code']}")
    existing = Case.objects.filter(created_by=citizen).order_by("pk").first()
    if existing:
        return existing.pk
    data = {"declarants": [{"fiscal_code": person["fiscal_code"], "given_name": person["given_name"],
                            "family_name": person["family_name"]}],
            "new_address": {"street": "Via Roma", "house_number": "12", "municipality_istat": "046007"},
            "declaration_date": "2026-03-01"}
    return case_start(tenant=Tenant.objects.get(istat_code=users["tenant"]), user=citizen,
                      process_id="residence_change", data=data).pk


def pages(users: dict) -> list[tuple[str, str, str]]:
    case = users["case_ids"][len(users["case_ids"]) // 2]
    mine = citizen_case(users)
    rows = [
        ("page: inbox", "operator", "/"),
        ("page: inbox (reader)", "reader", "/"),
        ("page: case", "reader", f"/pratiche/{case}/"),
        ("page: case search", "reader", "/pratiche/?status=open"),
        ("page: case search (fiscal code)", "reader", "/pratiche/?fiscal_code=RSSMRA80A01H501U"),
        ("page: citizen area", "citizen", "/spid/benvenuto/"),
        ("page: citizen portal home", "citizen", "/area-personale/"),
        ("page: citizen cases", "citizen", "/area-personale/pratiche/"),
        ("page: citizen case", "citizen", f"/area-personale/pratiche/{mine}/"),
        ("page: citizen cases (back office)", "citizen", "/pratiche/"),
        ("page: citizen case (back office)", "citizen", f"/pratiche/{mine}/"),
    ]
    if users.get("person_ids"):
        rows.append(("page: person", "reader", f"/anagrafe/persone/{users['person_ids'][0]}/"))
    return rows


def measure(client: Client, url: str) -> dict[str, float]:
    with Meter() as m:
        t0, c0 = time.perf_counter(), time.process_time()
        response = client.get(url)
        total, cpu = time.perf_counter() - t0, time.process_time() - c0
    if response.status_code != 200:
        raise SystemExit(f"{url}: {response.status_code}")
    return {"queries": m.sql_n, "total": total * 1000, "sql": m.sql_s * 1000, "template": m.tpl_s * 1000,
            "python": (total - m.sql_s) * 1000, "cpu": cpu * 1000}


def main() -> None:
    users = json.loads(Path(sys.argv[1]).read_text())
    profile = sys.argv[3] if len(sys.argv) > 3 and sys.argv[2] == "--profile" else None
    cs = clients(users)
    print("| page | SQL statements | total ms | SQL ms | template ms (SQL inside included) | Python ms (total − SQL) | CPU ms of this process |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, who, url in pages(users):
        if profile and name != profile:
            continue
        measure(cs[who], url)  # warm-up: bundle caches, template loader
        if profile:
            prof = cProfile.Profile()
            prof.enable()
            for _ in range(REPEAT):
                cs[who].get(url)
            prof.disable()
            pstats.Stats(prof).sort_stats(os.environ.get("SORT", "cumulative")).print_stats(int(os.environ.get("LINES", "60")))
            return
        runs = [measure(cs[who], url) for _ in range(REPEAT)]
        med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
        print(f"| {name} `{url.split('?')[0]}` | {med['queries']:.0f} | {med['total']:.1f} | {med['sql']:.1f} | "
              f"{med['template']:.1f} | {med['python']:.1f} | {med['cpu']:.1f} |")


if __name__ == "__main__":
    main()
