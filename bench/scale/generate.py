"""Bulk data for the scale benchmark (issue 16): many municipalities in one database, generated in
PostgreSQL with INSERT ... SELECT generate_series (no row crosses the network).

Default size: 200 tenants, 1,000,000 cases, 5,000,000 work items, 10,000,000 audit events.
Knobs (environment): SCALE_TENANTS, SCALE_CASES, SCALE_ITEMS, SCALE_EVENTS.

The mix of municipalities (state it with the figures; `MIX` below):
- small  (75% of tenants, weight 1):  a few thousand inhabitants, 6 operators;
- medium (20% of tenants, weight 8):  ~30,000 inhabitants, 20 operators;
- large  ( 5% of tenants, weight 40): ~150,000 inhabitants, 80 operators.
Cases are shared out by weight: with the defaults a small municipality has ~1,150 cases, a
medium one ~9,200 and a large one ~46,000.

Distributions: 15% of cases open (opened in the last 90 days), the rest closed (opened over the
last three years, closed 5-60 days later); each case has 3-7 work items (average SCALE_ITEMS /
SCALE_CASES), all completed except the last one of an open case; 40% of the open items are assigned
(to an operator holding their role), the rest wait in the role's queue; roles registrar 45%,
civil_registrar 25%, police 20%, supervisor 10%; due dates 20-60 days after creation; 1-2 subjects
(fiscal codes) per case; 6-14 audit events per case (creation, claims, completions, reads, system
events, a deed signature), spread over the case's life.

Workflow instances: one per case, its state copied from a real residence-change case started through
`cases.services.case_start` in a template tenant (open cases: running, a 45-day timer; closed
ones: completed). The case page therefore parses a real SpiffWorkflow state.

Audit events are NOT chain-valid: `prev_hash`/`hash` are filler (md5 pairs); a real chain needs one
SHA-256 per event in order, which is what the product does, not what a bulk load can. Never run
`verify_audit` on this database. Each chain head is set to the last generated seq, so events the
benchmark's own requests append continue the chains without a gap or a conflict.

Speed: secondary indexes of the three big tables are dropped during the load and rebuilt after
(their definitions are kept in bench_scale_index, so an interrupted run rebuilds them), and foreign
key triggers are skipped (session_replication_role = replica); every foreign key is then checked by
an anti-join (`check_references`), so the data respects the schema's constraints.

Resumable: each step is one transaction recorded in bench_scale_step; a rerun skips what is done.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/procedo_h9_scale .venv/bin/python bench/scale/generate.py
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("PROCEDO_ENV", "demo")  # benchmarks run on demo secrets, never in production

import django  # noqa: E402

django.setup()

from django.db import connection, transaction  # noqa: E402

TENANTS = int(os.environ.get("SCALE_TENANTS", "200"))
CASES = int(os.environ.get("SCALE_CASES", "1000000"))
ITEMS = int(os.environ.get("SCALE_ITEMS", "5000000"))
EVENTS = int(os.environ.get("SCALE_EVENTS", "10000000"))
SHARDS = 16  # PROCEDO_AUDIT_CHAIN_SHARDS default; read from settings below
# class, share of tenants, case weight, operators
MIX = [("small", 0.75, 1, 6), ("medium", 0.20, 8, 20), ("large", 0.05, 40, 80)]
TEMPLATE_SLUG = "scale-template"
DECLARATION = {
    "declarants": [{"fiscal_code": "RSSMRA80A01H501U", "given_name": "Mario", "family_name": "Rossi"}],
    "new_address": {"street": "Via Roma", "house_number": "12", "municipality_istat": "046007"},
    "declaration_date": "2026-03-01",
}
BIG_TABLES = ("cases_case", "cases_workitem", "audit_auditevent", "engine_workflowinstance", "cases_casesubject")


def log(msg: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {msg}", flush=True)


def q(sql: str, params=None) -> list:
    with connection.cursor() as cur:
        cur.execute(sql, params)  # no params: '%' is literal
        return cur.fetchall() if cur.description else []


def plan() -> list[tuple[str, int, int, int]]:
    """(class, tenants, cases per tenant, operators per tenant), summing to TENANTS and ~CASES."""
    counts = [max(1, round(TENANTS * share)) for _c, share, _w, _u in MIX]
    counts[0] = TENANTS - sum(counts[1:])
    units = sum(n * w for n, (_c, _s, w, _u) in zip(counts, MIX, strict=True))
    return [(c, n, max(1, CASES * w // units), users) for n, (c, _s, w, users) in zip(counts, MIX, strict=True)]


def step(name: str, fn) -> None:
    done = q("SELECT rows FROM bench_scale_step WHERE name = %s", [name])
    if done:
        log(f"{name}: done before ({done[0][0]:,} rows)")
        return
    t0 = time.monotonic()
    with transaction.atomic():
        q("SET LOCAL session_replication_role = replica")  # FK triggers off; checked by check_references
        q("SET LOCAL work_mem = '256MB'")
        rows = fn() or 0
        q("INSERT INTO bench_scale_step (name, rows, seconds) VALUES (%s, %s, %s)", [name, rows, time.monotonic() - t0])
    log(f"{name}: {rows:,} rows in {time.monotonic() - t0:.0f} s")


# --- steps ----------------------------------------------------------------------------------------


def make_template() -> int:
    """One real residence-change case, started through the product, whose state the others copy."""
    from accounts.models import Membership, Tenant, User
    from cases.services import case_start

    tenant = Tenant.objects.create(name="Comune modello", slug=TEMPLATE_SLUG, istat_code="899999", belfiore_code="Y999")
    user = User.objects.create(username="scale.template")
    Membership.objects.create(user=user, tenant=tenant, role="registrar")
    case = case_start(tenant=tenant, user=user, process_id="residence_change", data=DECLARATION)
    instance = case.instance
    q("""CREATE TABLE bench_scale_template AS SELECT %s::bigint AS process_version_id, %s::text AS state,
         %s::text AS serializer_version, %s::jsonb AS data, %s::jsonb AS subjects, %s::text AS title,
         %s::text AS process_id""",
      [case.process_version_id, instance.state, instance.serializer_version, json.dumps(case.data),
       json.dumps(case.subjects), case.title, case.process_id])
    log(f"template state: {len(instance.state):,} characters")
    return 1


def make_tenants() -> int:
    q("CREATE TABLE bench_scale_tenant (tenant_id bigint PRIMARY KEY, size text, n_cases int, n_users int, "
      "first_user bigint, first_g bigint)")
    g = 0
    n = 0
    for size, count, cases, users in plan():
        for _ in range(count):
            n += 1
            tid = q("""INSERT INTO accounts_tenant (name, slug, istat_code, belfiore_code, is_active, coat_of_arms,
                       coat_of_arms_mime, working_weekdays) VALUES (%s, %s, %s, %s, true, '', '', '01234') RETURNING id""",
                    [f"Comune {size} {n:03d}", f"scala-{n:03d}", f"8{n:05d}", f"S{n:03d}"])[0][0]
            first_user = q("""INSERT INTO accounts_user (password, is_superuser, username, first_name, last_name, email,
                              is_staff, is_active, date_joined, fiscal_code, must_change_password)
                              SELECT '!', false, 'scala.' || %s || '.' || i, 'Operatore', 'N. ' || i, '', false, true,
                                     now(), '', false FROM generate_series(0, %s - 1) i RETURNING id""",
                           [n, users])
            first = min(r[0] for r in first_user)
            q("INSERT INTO bench_scale_tenant VALUES (%s, %s, %s, %s, %s, %s)", [tid, size, cases, users, first, g])
            g += cases
    # Roles by operator index i (i % 20): 0-8 registrar, 9-13 civil_registrar, 14-17 police, 18-19 supervisor;
    # operator 0 of each office is also its supervisor (the head of the office).
    q("""INSERT INTO accounts_membership (user_id, tenant_id, role, is_active, created_at)
         SELECT t.first_user + i, t.tenant_id, bench_role(i), true, now()
         FROM bench_scale_tenant t, generate_series(0, t.n_users - 1) i
         UNION ALL SELECT t.first_user, t.tenant_id, 'supervisor', true, now() FROM bench_scale_tenant t""")
    return n


ROLE_FN = """
CREATE OR REPLACE FUNCTION bench_role(i bigint) RETURNS text LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE WHEN i % 20 < 9 THEN 'registrar' WHEN i % 20 < 14 THEN 'civil_registrar'
              WHEN i % 20 < 18 THEN 'police' ELSE 'supervisor' END $$;
-- A pseudo-random number in [0, 1) from integers (stable across reruns).
CREATE OR REPLACE FUNCTION bench_rand(a bigint, b bigint DEFAULT 0) RETURNS double precision LANGUAGE sql IMMUTABLE AS $$
  SELECT (hashint8(a * 1000003 + b)::bigint + 2147483648) / 4294967296.0 $$;
-- A fiscal-code-shaped string (AAAAAA00A00A000A) from an integer.
CREATE OR REPLACE FUNCTION bench_cf(a bigint) RETURNS text LANGUAGE sql IMMUTABLE AS $$
  SELECT upper(translate(substr(h, 1, 6), '0123456789', 'BCDFGLMNPR') || substr(regexp_replace(h, '[a-f]', '', 'g') || '00000000', 1, 2)
         || translate(substr(h, 9, 1), '0123456789', 'ABCDEHLMPR') || substr(regexp_replace(substr(h, 10), '[a-f]', '', 'g') || '00000000', 1, 2)
         || translate(substr(h, 13, 1), '0123456789', 'FGHLMZABCD') || substr(regexp_replace(substr(h, 14), '[a-f]', '', 'g') || '00000000', 1, 3)
         || translate(substr(h, 20, 1), '0123456789', 'XYZWKJQTUV'))
  FROM (SELECT md5('cf' || a::text) AS h) s $$;
"""


def make_cases() -> int:
    """Instances and cases; ids are explicit (base + g), so the other steps join by arithmetic."""
    inst_base = q("SELECT coalesce(max(id), 0) FROM engine_workflowinstance")[0][0] + 1000
    case_base = q("SELECT coalesce(max(id), 0) FROM cases_case")[0][0] + 1000
    q("CREATE TABLE bench_scale_base AS SELECT %s::bigint AS inst_base, %s::bigint AS case_base", [inst_base, case_base])
    # One row per case with its dates decided once.
    q("""CREATE TABLE bench_scale_case AS
         SELECT t.tenant_id, t.first_g + k AS g, k AS idx, t.first_user, t.n_users,
                (bench_rand(t.first_g + k, 1) < 0.15) AS is_open,
                CASE WHEN bench_rand(t.first_g + k, 1) < 0.15
                     THEN now() - (bench_rand(t.first_g + k, 2) * interval '90 days')
                     ELSE now() - interval '95 days' - (bench_rand(t.first_g + k, 2) * interval '1000 days') END AS opened_at
         FROM bench_scale_tenant t, generate_series(0, t.n_cases - 1) k""")
    q("ALTER TABLE bench_scale_case ADD PRIMARY KEY (g)")
    n = q("""INSERT INTO engine_workflowinstance (id, state, serializer_version, revision, status, business_key, case_id,
               case_number, next_timer_at, created_at, updated_at, completed_at, process_version_id, tenant_id)
             SELECT b.inst_base + c.g, tp.state, tp.serializer_version, CASE WHEN c.is_open THEN 1 ELSE 6 END,
                    CASE WHEN c.is_open THEN 'running' ELSE 'completed' END, '', b.case_base + c.g,
                    to_char(c.opened_at, 'YYYY') || '/' || lpad((c.idx + 1)::text, 6, '0'),
                    CASE WHEN c.is_open THEN c.opened_at + interval '45 days' END,
                    c.opened_at, c.opened_at, CASE WHEN NOT c.is_open THEN c.opened_at + interval '20 days' END,
                    tp.process_version_id, c.tenant_id
             FROM bench_scale_case c, bench_scale_base b, bench_scale_template tp
             RETURNING 1""")
    q("""INSERT INTO cases_case (id, tenant_id, number, process_id, process_version_id, instance_id, title, status,
               business_key, subjects, data, outcome, has_open_incident, opened_at, closed_at, legal_due_date,
               created_by_id, updated_at, idempotency_key)
         SELECT b.case_base + c.g, c.tenant_id, to_char(c.opened_at, 'YYYY') || '/' || lpad((c.idx + 1)::text, 6, '0'),
                tp.process_id, tp.process_version_id, b.inst_base + c.g, tp.title,
                CASE WHEN c.is_open THEN 'open' WHEN bench_rand(c.g, 3) < 0.03 THEN 'cancelled' ELSE 'closed' END,
                '', s.subjects, tp.data || jsonb_build_object('declarants', s.subjects),
                CASE WHEN c.is_open THEN '' WHEN bench_rand(c.g, 4) < 0.9 THEN 'accepted' ELSE 'rejected' END,
                false, c.opened_at,
                CASE WHEN NOT c.is_open THEN c.opened_at + (5 + bench_rand(c.g, 5) * 55) * interval '1 day' END,
                (c.opened_at + interval '45 days')::date,
                c.first_user + floor(bench_rand(c.g, 6) * c.n_users)::int,
                c.opened_at + interval '1 day', ''
         FROM bench_scale_case c, bench_scale_base b, bench_scale_template tp,
              LATERAL (SELECT jsonb_agg(jsonb_build_object('fiscal_code', bench_cf(c.g * 2 + j), 'given_name', 'Nome' || j,
                                                           'family_name', 'Cognome ' || c.g)) AS subjects
                       FROM generate_series(0, CASE WHEN bench_rand(c.g, 7) < 0.3 THEN 1 ELSE 0 END) j) s""")
    q("""INSERT INTO cases_casesubject (tenant_id, case_id, fiscal_code)
         SELECT c.tenant_id, c.id, s->>'fiscal_code' FROM cases_case c, jsonb_array_elements(c.subjects) s
         WHERE c.id >= (SELECT case_base FROM bench_scale_base)""")
    q("""INSERT INTO cases_casenumbersequence (tenant_id, year, last)
         SELECT t.tenant_id, y, t.n_cases + 1 FROM bench_scale_tenant t, generate_series(2023, 2030) y
         ON CONFLICT DO NOTHING""")
    return len(n)


def make_work_items() -> int:
    per_case = ITEMS / CASES  # average; each case gets 3-7 around it
    q("""INSERT INTO cases_workitem (tenant_id, case_id, task_id, bpmn_id, name, role, form, ui_form, instructions, status,
               assignee_id, claimed_at, restricted_to_candidates, excluded_username, due_at, priority, created_at,
               completed_at, completed_by_id)
         SELECT c.tenant_id, b.case_base + c.g, md5(c.g::text || ':' || k), st.bpmn_id, st.name, r.role, st.form, '', '',
                CASE WHEN last AND c.is_open THEN 'open' ELSE 'completed' END,
                CASE WHEN last AND c.is_open AND bench_rand(c.g, 20) >= 0.4 THEN NULL ELSE r.user_id END,
                CASE WHEN last AND c.is_open AND bench_rand(c.g, 20) >= 0.4 THEN NULL ELSE at + interval '1 hour' END,
                false, '', (at + (20 + bench_rand(c.g, 21 + k) * 40) * interval '1 day')::date,
                1 + floor(bench_rand(c.g, 40 + k) * 3)::int, at,
                CASE WHEN last AND c.is_open THEN NULL ELSE at + interval '2 days' END,
                CASE WHEN last AND c.is_open THEN NULL ELSE r.user_id END
         FROM bench_scale_case c CROSS JOIN bench_scale_base b,
              LATERAL (SELECT greatest(1, round(%s - 2 + bench_rand(c.g, 8) * 4))::int AS n) cnt,
              LATERAL generate_series(1, cnt.n) k,
              LATERAL (SELECT k = cnt.n AS last, c.opened_at + (k - 1) * interval '3 days' AS at) w,
              -- an operator of the tenant, and the role they hold (so "mine" and "available" see real roles)
              LATERAL (SELECT c.first_user + u AS user_id, bench_role(u) AS role
                       FROM (SELECT floor(bench_rand(c.g, 60 + k) * c.n_users)::int AS u) p) r,
              LATERAL (SELECT (ARRAY['registration', 'police_verification', 'notice_review', 'deed_check', 'archive'])[1 + (k - 1) %% 5] AS bpmn_id,
                              (ARRAY['Registrazione', 'Accertamento', 'Preavviso', 'Verifica atto', 'Archiviazione'])[1 + (k - 1) %% 5] AS name,
                              'registration.schema.json' AS form) st""",
      [per_case])
    return q("SELECT count(*) FROM cases_workitem WHERE case_id >= (SELECT case_base FROM bench_scale_base)")[0][0]


def make_audit() -> int:
    from django.conf import settings

    shards = max(1, int(getattr(settings, "PROCEDO_AUDIT_CHAIN_SHARDS", SHARDS)))
    per_case = EVENTS / CASES
    # Events per case: the creation, then a mix over the case's life. Chain: the case's shard, like
    # audit.services (case id modulo the shard count); seq in time order within the chain.
    q("""CREATE TEMP TABLE bench_ev ON COMMIT DROP AS
         SELECT c.tenant_id, b.case_base + c.g AS case_id, c.g, e, c.first_user, c.n_users,
                CASE WHEN (b.case_base + c.g) %% %s = 0 THEN c.tenant_id::text
                     ELSE c.tenant_id::text || '.' || ((b.case_base + c.g) %% %s) END AS chain_key,
                c.opened_at + (e - 1) * interval '2 days' + bench_rand(c.g, 100 + e) * interval '8 hours' AS at,
                to_char(c.opened_at, 'YYYY') || '/' || lpad((c.idx + 1)::text, 6, '0') AS number
         FROM bench_scale_case c CROSS JOIN bench_scale_base b,
              LATERAL generate_series(1, greatest(1, round(%s - 4 + bench_rand(c.g, 9) * 8))::int) e""",
      [shards, shards, per_case])
    q("""INSERT INTO audit_auditevent (tenant_id, chain_key, seq, created_at, actor_id, actor_username, ip, action,
               object_type, object_id, object_repr, summary, before, after, extra, prev_hash, hash)
         SELECT ev.tenant_id, ev.chain_key,
                coalesce(h.last_seq, 0) + row_number() OVER (PARTITION BY ev.chain_key ORDER BY ev.at, ev.g, ev.e),
                ev.at,
                CASE WHEN a.action = 'system' THEN NULL ELSE ev.first_user + a.u END,
                CASE WHEN a.action = 'system' THEN '' ELSE 'scala.' || ev.tenant_id || '.' || a.u END,
                CASE WHEN a.action = 'system' THEN NULL ELSE '10.20.' || (ev.g % 250) || '.' || (ev.e % 250) END::inet,
                a.action, a.object_type, ev.case_id::text, ev.number, a.summary,
                NULL, CASE WHEN a.action = 'complete' THEN '{"outcome": "positive"}'::jsonb END,
                CASE WHEN a.action = 'system' THEN '{"due": "2026-03-01"}'::jsonb END,
                md5(ev.g || ':' || ev.e) || md5(ev.e || ':' || ev.g), md5(ev.g || '/' || ev.e) || md5(ev.e || '/' || ev.g)
         FROM bench_ev ev LEFT JOIN audit_auditchainhead h ON h.chain_key = ev.chain_key,
              LATERAL (SELECT floor(bench_rand(ev.g, 200 + ev.e) * ev.n_users)::int AS u,
                              CASE WHEN ev.e = 1 THEN 0 ELSE 1 + floor(bench_rand(ev.g, 300 + ev.e) * 10)::int END AS kind) p,
              LATERAL (SELECT (ARRAY['create', 'claim', 'complete', 'read', 'read', 'read', 'complete', 'system', 'update', 'sign', 'read'])[p.kind + 1] AS action,
                              (ARRAY['case', 'work_item', 'work_item', 'case', 'case', 'work_item', 'work_item', 'case', 'case', 'document', 'case'])[p.kind + 1] AS object_type,
                              (ARRAY['Avvio pratica', 'Presa in carico', 'Completato compito', 'Consultazione', 'Consultazione',
                                     'Consultazione compito', 'Completato compito', 'Scaduto un termine del procedimento',
                                     'Dati aggiornati', 'Firmato atto', 'Consultazione'])[p.kind + 1] AS summary,
                              p.u) a""")
    # The heads continue the generated chains.
    q("""INSERT INTO audit_auditchainhead (chain_key, last_seq, last_hash)
         SELECT DISTINCT ON (chain_key) chain_key, seq, hash FROM audit_auditevent
         WHERE tenant_id IN (SELECT tenant_id FROM bench_scale_tenant) ORDER BY chain_key, seq DESC
         ON CONFLICT (chain_key) DO UPDATE SET last_seq = EXCLUDED.last_seq, last_hash = EXCLUDED.last_hash""")
    q("""INSERT INTO audit_auditchainhead (chain_key, last_seq, last_hash)
         SELECT CASE WHEN s = 0 THEN t.tenant_id::text ELSE t.tenant_id || '.' || s END, 0, repeat('0', 64)
         FROM bench_scale_tenant t, generate_series(0, %s - 1) s ON CONFLICT DO NOTHING""", [shards])
    return q("SELECT count(*) FROM bench_ev")[0][0]


def drop_indexes() -> int:
    """Drop the secondary (non-constraint) indexes of the big tables; bench_scale_index keeps them."""
    q("""INSERT INTO bench_scale_index (name, definition)
         SELECT i.indexname, i.indexdef FROM pg_indexes i
         WHERE i.schemaname = 'public' AND i.tablename = ANY(%s)
           AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)
         ON CONFLICT DO NOTHING""", [list(BIG_TABLES)])
    names = [r[0] for r in q("SELECT name FROM bench_scale_index")]
    for name in names:
        q(f'DROP INDEX IF EXISTS "{name}"')
    return len(names)


def rebuild_indexes() -> None:
    missing = q("""SELECT s.name, s.definition FROM bench_scale_index s
                   WHERE NOT EXISTS (SELECT 1 FROM pg_indexes i WHERE i.indexname = s.name)""")
    q("SET maintenance_work_mem = '512MB'")
    for name, definition in missing:
        t0 = time.monotonic()
        q(definition)
        log(f"index {name} rebuilt in {time.monotonic() - t0:.0f} s")


REFERENCES = [
    ("cases_case", "tenant_id", "accounts_tenant"), ("cases_case", "instance_id", "engine_workflowinstance"),
    ("cases_case", "process_version_id", "engine_processversion"), ("cases_case", "created_by_id", "accounts_user"),
    ("engine_workflowinstance", "tenant_id", "accounts_tenant"),
    ("engine_workflowinstance", "process_version_id", "engine_processversion"),
    ("cases_workitem", "case_id", "cases_case"), ("cases_workitem", "tenant_id", "accounts_tenant"),
    ("cases_workitem", "assignee_id", "accounts_user"), ("cases_workitem", "completed_by_id", "accounts_user"),
    ("cases_casesubject", "case_id", "cases_case"), ("audit_auditevent", "tenant_id", "accounts_tenant"),
    ("audit_auditevent", "actor_id", "accounts_user"),
]


def check_references() -> list[str]:
    """Every foreign key of the generated rows points at a row (the triggers were off during the load)."""
    broken = []
    for table, column, target in REFERENCES:
        n = q(f"SELECT count(*) FROM {table} x WHERE x.{column} IS NOT NULL "
              f"AND NOT EXISTS (SELECT 1 FROM {target} y WHERE y.id = x.{column})")[0][0]
        if n:
            broken.append(f"{table}.{column}: {n} rows")
    mismatched = q("""SELECT count(*) FROM cases_workitem w JOIN cases_case c ON c.id = w.case_id
                      WHERE w.tenant_id <> c.tenant_id""")[0][0]
    if mismatched:
        broken.append(f"work items of another tenant's case: {mismatched}")
    return broken


def main() -> dict:
    started = time.monotonic()
    q("CREATE TABLE IF NOT EXISTS bench_scale_step (name text PRIMARY KEY, rows bigint, seconds real, done_at timestamptz DEFAULT now())")
    q("CREATE TABLE IF NOT EXISTS bench_scale_index (name text PRIMARY KEY, definition text)")
    with connection.cursor() as cur:
        cur.execute(ROLE_FN)
    log(f"plan: {plan()}")
    step("template", make_template)
    step("tenants", make_tenants)
    step("drop_indexes", drop_indexes)
    step("cases", make_cases)
    step("work_items", make_work_items)
    step("audit_events", make_audit)
    rebuild_indexes()
    if not q("SELECT 1 FROM bench_scale_step WHERE name = 'checked'"):
        broken = check_references()
        if broken:
            raise SystemExit("broken references: " + "; ".join(broken))
        q("INSERT INTO bench_scale_step (name, rows, seconds) VALUES ('checked', 0, 0)")
        log("foreign keys checked: none broken")
    for table in BIG_TABLES:
        q(f"VACUUM ANALYZE {table}")
    seconds = {name: s for name, s in q("SELECT name, seconds FROM bench_scale_step")}
    counts = {t: q(f"SELECT count(*) FROM {t}")[0][0] for t in ("accounts_tenant", "cases_case", "cases_workitem",
                                                                  "audit_auditevent", "engine_workflowinstance")}
    log(f"counts {counts}; {time.monotonic() - started:.0f} s this run")
    return {"seconds": seconds, "counts": counts}


if __name__ == "__main__":
    main()
