"""Record a walk-through of a draft into a scenario.

The smallest faithful design: the recording IS the scenario being written. An admin opens a
recording (who starts the case, with which data, at which instant); each thing they then do in the
sandbox (complete an open task with its form, deliver a message, let the service calls run, let
days pass) is appended as a tests.yaml step, and the whole scenario so far is replayed in the
sandbox (studio/scenarios.py: own database, simulators, frozen clock), which answers where the case
now stands: the open tasks the next step can complete. A step the product refuses shows as a
failed replay; "undo" removes it. Saving adds the final expectations from the last replay (the open
tasks, the status, the outcome, the documents) and appends the scenario to the draft's tests.yaml,
where the ordinary scenario run replays it like any other.

A replay is deterministic (the clock is frozen at `at` and moves only by the recorded steps; the
simulators start fresh), so what the admin saw is what the saved scenario checks.
"""

from __future__ import annotations

from typing import Any

import yaml
from django.utils.translation import gettext as _

from common.errors import ValidationFailed

from .scenarios import DEFAULT_START, Scenario, _check_scenario, _Checker, model_from_files

MAX_STEPS = 200


def _checked(process_id: str, files: dict[str, str], spec: dict[str, Any]) -> None:
    """The scenario so far must be one the runner accepts (same checks as tests.yaml)."""
    try:
        model = model_from_files(process_id, files)
    except Exception as exc:  # noqa: BLE001 - a draft that does not parse cannot be walked through
        raise ValidationFailed(_("La procedura della bozza non si carica: %(e)s") % {"e": str(exc)[:300]},
                               code="draft_invalid") from exc
    checker = _Checker(_("registrazione"), model)
    _check_scenario(spec, checker)
    if checker.problems:
        raise ValidationFailed("; ".join(checker.problems)[:2000], code="step_invalid")


def recording_spec(*, process_id: str, files: dict[str, str], name: str, start_as: str | None,
                   data: dict[str, Any], at: str | None = None, platform: str | None = None,
                   business_key: str | None = None) -> dict[str, Any]:
    """The first form of a recorded scenario: who opens the case, with which data, when."""
    name = (name or "").strip()
    if not name or len(name) > 100 or not all(c.isalnum() or c in "_-" for c in name):
        raise ValidationFailed(_("Il nome dello scenario: lettere, cifre, «_» o «-», al massimo 100 caratteri."),
                               code="name_invalid")
    if not isinstance(data, dict):
        raise ValidationFailed(_("I dati di avvio devono essere un oggetto JSON."), code="data_invalid")
    start: dict[str, Any] = {"data": data}
    if platform:
        start = {"platform": platform, "business_key": business_key or "", "data": data}
    else:
        start = {"as": start_as, "data": data}
    spec: dict[str, Any] = {"name": name, "at": at or DEFAULT_START.isoformat().replace("+00:00", "Z"),
                            "start": start, "steps": []}
    _checked(process_id, files, spec)
    return spec


def step_from_action(action: dict[str, Any]) -> dict[str, Any]:
    """One admin action (from the recording page) as a tests.yaml step."""
    kind = action.get("kind")
    if kind == "complete":
        step: dict[str, Any] = {"complete": str(action.get("task") or ""), "data": action.get("data") or {}}
        if action.get("as"):
            step["as"] = str(action["as"])
        return step
    if kind == "message":
        step = {"message": str(action.get("message") or ""), "as": str(action.get("as") or "")}
        if action.get("payload"):
            step["payload"] = action["payload"]
        return step
    if kind == "deliver_outbox":
        return {"deliver_outbox": True}
    if kind == "pay":
        return {"pay": True}
    if kind == "advance_days":
        try:
            days = int(action.get("days"))
        except (TypeError, ValueError) as exc:
            raise ValidationFailed(_("Indica un numero di giorni."), code="step_invalid") from exc
        return {"advance_days": days}
    raise ValidationFailed(_("Azione non riconosciuta."), code="step_invalid")


def spec_with_step(*, process_id: str, files: dict[str, str], spec: dict[str, Any],
                   step: dict[str, Any]) -> dict[str, Any]:
    steps = list(spec.get("steps") or [])
    if len(steps) >= MAX_STEPS:
        raise ValidationFailed(_("Uno scenario registrato ha al massimo %(n)s passi.") % {"n": MAX_STEPS},
                               code="too_many_steps")
    new = {**spec, "steps": [*steps, step]}
    _checked(process_id, files, new)
    return new


def spec_without_last_step(spec: dict[str, Any]) -> dict[str, Any]:
    return {**spec, "steps": list(spec.get("steps") or [])[:-1]}


def final_expect(state: dict[str, Any] | None) -> dict[str, Any]:
    """What the last replay showed, as the scenario's final expectations."""
    if not state:
        return {}
    expect: dict[str, Any] = {"ready": sorted(t["bpmn_id"] for t in state.get("ready") or []),
                              "status": state.get("status") or "open"}
    if state.get("outcome"):
        expect["outcome"] = state["outcome"]
    if state.get("documents"):
        expect["documents"] = dict(sorted(state["documents"].items()))
    return expect


SCENARIO_ORDER = ("name", "at", "citizen", "simulators", "start", "steps", "expect")
STEP_ORDER = ("complete", "message", "deliver_outbox", "pay", "advance_days", "advance_hours", "advance_to", "expect",
              "as", "data", "payload", "refused")
START_ORDER = ("as", "platform", "business_key", "received_on", "channel", "received_on_reason", "data")


def _in_order(mapping: dict[str, Any], order: tuple[str, ...]) -> dict[str, Any]:
    """A stored JSON object (PostgreSQL's jsonb keeps no key order) in tests.yaml's reading order."""
    rank = {key: index for index, key in enumerate(order)}
    return dict(sorted(mapping.items(), key=lambda item: rank.get(item[0], len(rank))))


def finished_scenario(spec: dict[str, Any], state: dict[str, Any] | None) -> dict[str, Any]:
    scenario = {k: v for k, v in spec.items() if k != "steps" or v}
    if isinstance(scenario.get("start"), dict):
        scenario["start"] = _in_order(scenario["start"], START_ORDER)
    if scenario.get("steps"):
        scenario["steps"] = [_in_order(step, STEP_ORDER) for step in scenario["steps"]]
    expect = final_expect(state)
    if expect:
        scenario["expect"] = expect
    return _in_order(scenario, SCENARIO_ORDER)


def tests_yaml_with(existing: str | None, scenario: dict[str, Any]) -> str:
    """The draft's tests.yaml with `scenario` appended (a name already there is refused)."""
    scenarios: list[Any] = []
    if existing and existing.strip():
        try:
            raw = yaml.safe_load(existing)
        except yaml.YAMLError as exc:
            raise ValidationFailed(_("tests.yaml della bozza non è YAML valido: correggilo prima di salvare."),
                                   code="tests_yaml_invalid") from exc
        if not isinstance(raw, dict) or not isinstance(raw.get("scenarios"), list):
            raise ValidationFailed(_("tests.yaml della bozza deve avere «scenarios:», una lista."),
                                   code="tests_yaml_invalid")
        scenarios = raw["scenarios"]
    if any(isinstance(s, dict) and s.get("name") == scenario.get("name") for s in scenarios):
        raise ValidationFailed(_("Esiste già uno scenario «%(n)s»: scegli un altro nome.") % {"n": scenario.get("name")},
                               code="name_taken")
    if not scenarios:
        return yaml.safe_dump({"scenarios": [scenario]}, allow_unicode=True, sort_keys=False, width=110)
    # Appended as text: the file's comments and anchors stay as the admin wrote them.
    import re

    indent = ""
    match = re.search(r"^scenarios:[ \t]*\n(?:[ \t]*(?:#.*)?\n)*([ \t]*)- ", existing or "", re.MULTILINE)
    if match:
        indent = match.group(1)
    item = yaml.safe_dump([scenario], allow_unicode=True, sort_keys=False, width=110)
    text = (existing or "").rstrip("\n") + "\n" + "".join(indent + line if line.strip() else line
                                                          for line in item.splitlines(keepends=True))
    try:
        again = yaml.safe_load(text)
    except yaml.YAMLError:
        again = None
    if not isinstance(again, dict) or (again.get("scenarios") or [None])[-1] != scenario:
        raise ValidationFailed(_("Non riesco ad aggiungere lo scenario in fondo a tests.yaml (la lista «scenarios» "
                                 "non è l'ultima voce del file?)."), code="tests_yaml_layout")
    return text


def as_scenario(process_id: str, spec: dict[str, Any]) -> Scenario:
    return Scenario(process_id, str(spec.get("name") or "registrazione"), spec,
                    source=f"processes/{process_id}/tests.yaml")
