"""Publishing is gated on the draft's scenarios: a publish request is made, and approved, only when
the scenarios of tests.yaml were run in the sandbox on exactly the content being published (the same
content hash the version will carry) and every one of them passed.

The verdict (`ScenarioGate`) is shown to the requester before asking and to the approver beside the
approve button, with the run, each scenario's outcome and, when refused, why; it is written into the
audit events of the request and of its decision. A scenario the draft dropped from the version it
was forked from is listed to the approver (not a refusal: a variant may drop a path it does not
have, but the approver must see it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml
from django.utils.translation import gettext as _

from engine.bundles import Bundle

from .models_tools import ScenarioRun, ScenarioRunKind, ScenarioRunStatus


@dataclass(frozen=True)
class ScenarioGate:
    passed: bool
    code: str  # "scenarios_passed" or why not (English, for API clients and the audit trail)
    reason: str  # Italian, for people
    content_hash: str
    scenarios: tuple[str, ...]  # the names in the draft's tests.yaml
    run: ScenarioRun | None = None
    dropped: tuple[str, ...] = field(default=())  # scenarios of the base version the draft no longer has

    def as_audit(self) -> dict[str, Any]:
        run = self.run
        return {
            "passed": self.passed, "code": self.code, "content_hash": self.content_hash,
            "run": run.pk if run else None,
            "run_content_hash": run.content_hash if run else None,
            "scenarios": len(self.scenarios),
            "results": [{"name": r.get("name"), "passed": bool(r.get("passed"))} for r in (run.results if run else [])],
            "dropped": list(self.dropped),
        }


def scenario_names(files: dict[str, str]) -> tuple[str, ...]:
    """Names of the scenarios of a bundle's tests.yaml (empty when it has none or cannot be read)."""
    try:
        raw = yaml.safe_load(files.get("tests.yaml") or "") or {}
    except yaml.YAMLError:
        return ()
    items = raw.get("scenarios") if isinstance(raw, dict) else None
    if not isinstance(items, list):
        return ()
    return tuple(str(s.get("name") or f"#{n}") if isinstance(s, dict) else f"#{n}" for n, s in enumerate(items, 1))


def scenario_gate(*, tenant: Any, draft_id: int, files: dict[str, str],
                  base_files: dict[str, str] | None = None) -> ScenarioGate:
    """Whether the draft's content may be published as far as its scenarios go, and why not."""
    digest = Bundle(process_id="", files=files).content_hash
    names = scenario_names(files)
    dropped = tuple(n for n in scenario_names(base_files or {}) if n not in set(names))

    def gate(passed: bool, code: str, reason: str, run: ScenarioRun | None = None) -> ScenarioGate:
        return ScenarioGate(passed=passed, code=code, reason=reason, content_hash=digest, scenarios=names, run=run,
                            dropped=dropped)

    if not names:
        return gate(False, "no_scenarios", _("La bozza non ha scenari (tests.yaml): aggiungine almeno uno, eseguili e "
                                             "chiedi l'approvazione quando sono tutti riusciti."))
    runs = ScenarioRun.objects.filter(tenant=tenant, draft_id=str(draft_id), kind=ScenarioRunKind.SCENARIOS)
    same = list(runs.filter(content_hash=digest).order_by("-created_at", "-pk")[:20])
    finished = next((r for r in same if r.finished), None)
    if finished is None:
        if same:
            return gate(False, "scenarios_running", _("Gli scenari del contenuto attuale sono in esecuzione: attendi "
                                                      "il risultato."), same[0])
        last = runs.order_by("-created_at", "-pk").first()
        if last is not None:
            return gate(False, "scenarios_outdated", _(
                "Gli scenari non sono stati eseguiti sul contenuto attuale della bozza: l'ultima esecuzione (n. "
                "%(n)d) riguarda una versione precedente. Eseguili di nuovo.") % {"n": last.pk}, last)
        return gate(False, "scenarios_not_run", _("Gli scenari della bozza non sono ancora stati eseguiti: eseguili "
                                                  "prima di chiedere l'approvazione."))
    if finished.status == ScenarioRunStatus.FAILED:
        return gate(False, "scenarios_error", _("L'esecuzione degli scenari n. %(n)d non si è conclusa: %(e)s")
                    % {"n": finished.pk, "e": (finished.error or "-")[:300]}, finished)
    results = {str(r.get("name")): bool(r.get("passed")) for r in finished.results if isinstance(r, dict)}
    failed = [n for n in names if results.get(n) is False]
    missing = [n for n in names if n not in results]
    if failed:
        return gate(False, "scenarios_failed", _(
            "%(f)d scenari su %(t)d non sono riusciti nell'esecuzione n. %(n)d (%(names)s): correggi la bozza o "
            "gli scenari ed eseguili di nuovo.") % {"f": len(failed), "t": len(names), "n": finished.pk,
                                                   "names": ", ".join(failed[:5]) + ("…" if len(failed) > 5 else "")},
            finished)
    if missing:
        return gate(False, "scenarios_incomplete", _(
            "L'esecuzione n. %(n)d non ha il risultato di %(m)d scenari (%(names)s): eseguili di nuovo.")
            % {"n": finished.pk, "m": len(missing), "names": ", ".join(missing[:5])}, finished)
    return gate(True, "scenarios_passed", _("Tutti i %(t)d scenari sono riusciti sul contenuto attuale (esecuzione "
                                            "n. %(n)d).") % {"t": len(names), "n": finished.pk}, finished)
