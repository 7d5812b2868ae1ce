"""The legacy import's check against ANPR: a sample of the accepted people, looked up in ANPR.

ANPR is the national register of record since each municipality's takeover ("subentro"), so the
legacy register should agree with it on identity: ANPR id, names, sex, birth date. The check asks
ANPR's C020 for an evenly spread sample of the living people accepted (rate-limited like the
alignment check, `PROCEDO_ANPR_ALIGN_RATE`) and reports every mismatch as a warning of the
reconciliation report (reason `anpr_<field>` or `anpr_not_found`). It corrects nothing: after the
import, the alignment check (registry/alignment.py) lists the same differences with their fixes.
ANPR unreachable is reported, not fatal: the sample is a check, not a precondition.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.utils.translation import gettext as _

from common.operations import ConnectorError

from ..text import normalise
from .reconcile import WARNING, Plan

MAX_FAILURES_IN_A_ROW = 3
MAX_SAMPLE = 1000


def sample_of(plan: Plan, size: int) -> list[dict]:
    """`size` living people with a fiscal code, evenly spread over the export (deterministic)."""
    people = [r for r in plan.rows["people"] if r.get("fiscal_code") and not r.get("death_date")]
    if size <= 0 or not people:
        return []
    step = max(1, len(people) // size)
    return people[::step][:size]


def _differences(row: dict, subject: dict) -> list[tuple[str, str, str, str]]:
    """(field, label, ours, ANPR's) for each identity datum that differs."""
    found = []
    anpr_id = str(subject.get("id_anpr") or "")
    if anpr_id and row.get("anpr_id") and row["anpr_id"] != anpr_id:
        found.append(("anpr_id", _("identificativo ANPR"), row["anpr_id"], anpr_id))
    for key, label in (("family_name", _("cognome")), ("given_name", _("nome"))):
        theirs = " ".join(str(subject.get(key) or "").split()).upper()
        if theirs and normalise(theirs) != normalise(row.get(key) or ""):
            found.append((key, label, row.get(key) or "", theirs))
    sex = str(subject.get("sex") or "").upper()
    if sex in ("M", "F") and sex != row.get("sex"):
        found.append(("sex", _("sesso"), row.get("sex") or "", sex))
    born = str(subject.get("birth_date") or "")
    ours = row["birth_date"].isoformat() if row.get("birth_date") else ""
    if born and born != ours:
        found.append(("birth_date", _("data di nascita"), ours, born))
    return found


def anpr_sample_check(*, tenant, plan: Plan, size: int, client: Any = None, limiter: Any = None,
                      started_by: str = "", progress: Callable[[int, int], None] | None = None) -> dict:
    """Look up a sample of `plan`'s people in ANPR; add a warning to the plan for each mismatch;
    return the figures for the run (size, checked, matching, mismatched, not_found, errors, error)."""
    from ..alignment import RateLimiter

    sample = sample_of(plan, min(size, MAX_SAMPLE))
    result = {"size": len(sample), "checked": 0, "matching": 0, "mismatched": 0, "not_found": 0, "errors": 0,
              "error": ""}
    if not sample:
        return result
    from connectors.anpr.client import Caller

    if client is None:
        from connectors.anpr.client import client_for

        client = client_for(tenant, tenant.istat_code)
    caller = Caller(user_id=started_by[:60] or "procedo", location=f"procedo-{tenant.istat_code}-importazione")
    limiter = limiter or RateLimiter(float(settings.PROCEDO_ANPR_ALIGN_RATE))
    failures = 0
    for index, row in enumerate(sample, start=1):
        limiter.wait()
        try:
            answer = client.lookup("C020", row["fiscal_code"], caller=caller,
                                   reason="verifica a campione dell'importazione dell'anagrafe precedente")
        except ConnectorError as exc:
            failures += 1
            result["errors"] += 1
            result["error"] = str(exc.message)[:300]
            if failures >= MAX_FAILURES_IN_A_ROW:
                result["error"] = _("ANPR non risponde: verifica interrotta dopo %(n)s persone (%(e)s).") % {
                    "n": index, "e": str(exc.message)[:200]}
                break
            continue
        failures = 0
        result["checked"] += 1
        line = plan.people_lines.get(row["legacy_id"], 0)
        if not answer.found or not answer.subjects:
            result["not_found"] += 1
            plan.issue("people", line, row["legacy_id"], WARNING, "anpr_not_found",
                       _("Verifica a campione: il codice fiscale %(cf)s non è in ANPR.") % {"cf": row["fiscal_code"]})
        else:
            differences = _differences(row, answer.subjects[0])
            result["mismatched" if differences else "matching"] += 1
            for field, label, ours, theirs in differences:
                plan.issue("people", line, row["legacy_id"], WARNING, f"anpr_{field}",
                           _("Verifica a campione con ANPR: %(l)s diverso (qui «%(a)s», in ANPR «%(b)s»).")
                           % {"l": label, "a": ours, "b": theirs})
        if progress:
            progress(index, len(sample))
    return result
