"""Scenarios as data: `processes/<id>/tests.yaml`, checked against the procedure and run through the
real services (cases.services, the engine, the database, the connector simulators over HTTP).

The runner lives in product code so that the studio can run a draft's scenarios in a sandbox
(`run_in_sandbox`: a child process with its own throwaway SQLite database copied from a migrated
template, the simulators on loopback, a frozen clock and a time limit); the test suite runs the
shipped ones with the same code (tests/procedures/scenarios.py re-exports this module).

File format (every key is checked; a typo fails the file with a message naming it):

    scenarios:
      - name: accepted                       # unique in the file; the pytest id is <process>:<name>
        at: "2026-03-02T08:30:00Z"           # the clock when the case opens (default: this Monday)
        citizen: RSSMRA80A01H501U            # fiscal code of the `citizen` user (default: first subject)
        settings: {payment_days: 10}         # the municipality's settings of the procedure (manifest)
        registry:                            # acts in the municipality's civil-status registers, drawn
          death_acts:                        #   up and closed by its services (numbered 1, 2, ... per register)
            - {deceased: {fiscal_code: ..., given_name: ..., family_name: ..., birth_date: ..., sex: M},
               death_date: "2026-02-28", death_time: "10:15", death_place: "...", part: "1", series: ""}
        simulators:                          # set up a simulator through its admin API, over HTTP
          - {platform: anpr, post: /__sim__/citizen-requests, json: {...}}
        start:                               # a person opens it (counter or portal) ...
          as: registrar
          data: {...}
          received_on: "2026-02-27"          # optional: the day it reached the office, how, and why
          channel: pec                       #   (a supervisor's reason when older than 5 working days)
        # ... or a national platform does:   start: {platform: ANPR, business_key: ..., data: {...}}
        steps:
          - complete: registration           # a user task by BPMN id: claimed and completed
            as: registrar                    # default: the role of the task's lane; "registrar:2" is a
                                             #   second person with that role (four-eyes)
            data: {...}
            refused: validation_failed       # optional: the service must refuse with this code
          - deliver_outbox: true             # the worker delivers every pending service call
          - message: citizen_reply           # a person delivers a message (manifest `messages`)
            as: citizen
            payload: {...}
          - advance_days: 46                 # the clock moves on; due timers fire
          - advance_hours: 1.5               # the same, in hours (service-hours SLA clocks)
          - advance_to: "2026-03-09T13:30:00+01:00"  # the same, to an instant (not backwards)
          - pay: true                        # the citizen pays every open pagoPA notice of the case (on
                                             # the pagoPA simulator, over HTTP); the payments poller runs
          - pay: late                        # the same (if any is still open), for a case that is not
                                             # waiting for it: the poller runs and must deliver nothing
          - cancel: "Rinuncia degli sposi"   # a person cancels the case with this reason
            as: supervisor
          - simulator: {platform: appio, post: /__sim__/messages/read, json: {...}}  # something happens
                                             # on a platform (the citizen reads a message, ...)
          - poll_deliveries: true            # the poller asks App IO / SEND about the notices sent
          - send_back: registration          # the case's open incident: back to that task to correct
            as: supervisor                   #   the data (default supervisor), with a reason
            reason: "..."
            refused: not_upstream
          - expect: {...}                    # expectations at this point
        expect: {...}                        # expectations at the end

Expectations: `ready` (BPMN ids of the open tasks, any order), `status` (open, closed, cancelled),
`outcome` (a key of the manifest's `outcomes`), `documents` (kind -> how many the case has),
`milestones` (the labels the citizen sees, in order), `data` (keys of the case data and their
values), `open_incidents` (default at the end: 0), `legal_due_date` (the case's legal term, ISO date),
`due` (BPMN id of an open task -> its due date, ISO), `payments` (state on the payments page -> how
many of the case's pagoPA positions are in it: to_pay, overdue, paid, invalidated, to_invalidate,
unmatched), `notices` (the notices sent to citizens, in order: a list of {kind, channel, status,
delivered_on, protocolled, fiscal_code}, each a subset), `protocol` (the case's documents protocolled: kind ->
direction), `dossier` (fiscal code -> document kinds filed, each with its protocol number when the
document has one).
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from celery import shared_task

from accounts.roles import ROLE_CODES

PROCESSES = Path(__file__).resolve().parents[1] / "processes"
DEFAULT_START = dt.datetime(2026, 3, 2, 8, 30, tzinfo=dt.UTC)  # Monday 2 March 2026, 09:30 in Rome

SCENARIO_KEYS = {"name", "at", "citizen", "settings", "registry", "simulators", "start", "steps", "expect"}
START_KEYS = {"as", "data", "platform", "business_key", "received_on", "channel", "received_on_reason"}
STEP_KINDS = {"complete", "deliver_outbox", "message", "advance_days", "advance_hours", "advance_to", "expect", "pay",
              "cancel", "simulator", "poll_deliveries", "send_back"}
STEP_KEYS = {"complete": {"complete", "as", "data", "refused"}, "deliver_outbox": {"deliver_outbox"},
             "message": {"message", "as", "payload", "refused"}, "advance_days": {"advance_days"},
             "advance_hours": {"advance_hours"}, "advance_to": {"advance_to"},
             "expect": {"expect"}, "pay": {"pay"}, "cancel": {"cancel", "as", "refused"},
             "simulator": {"simulator"}, "poll_deliveries": {"poll_deliveries"},
             "send_back": {"send_back", "as", "reason", "refused"}}
EXPECT_KEYS = {"ready", "status", "outcome", "documents", "milestones", "data", "open_incidents", "legal_due_date",
               "due", "payments", "notices", "protocol", "dossier"}
PAYMENT_STATES = {"to_pay", "overdue", "paid", "invalidated", "to_invalidate", "unmatched"}
STATUSES = {"open", "closed", "cancelled"}
SIMULATOR_KEYS = {"platform", "post", "json"}


class ScenarioFileError(Exception):
    """A tests.yaml that does not fit the procedure; the message names file, scenario and step."""


@dataclass(frozen=True)
class Model:
    """What a scenario file is checked against: the procedure as its folder declares it."""

    process_id: str
    user_tasks: frozenset[str]
    messages: frozenset[str]
    outcomes: frozenset[str]
    milestone_labels: frozenset[str]
    starts_from_platform: bool


@dataclass(frozen=True)
class Scenario:
    process_id: str
    name: str
    spec: dict[str, Any]
    error: str | None = None
    source: str = ""

    @property
    def id(self) -> str:
        return f"{self.process_id}:{self.name}"


@dataclass
class _Checker:
    where: str
    model: Model
    problems: list[str] = field(default_factory=list)

    def problem(self, text: str) -> None:
        self.problems.append(f"{self.where}: {text}")

    def keys(self, mapping: dict[str, Any], allowed: set[str], what: str) -> None:
        for key in mapping:
            if key not in allowed:
                self.problem(f"{what}: chiave sconosciuta '{key}' (ammesse: {', '.join(sorted(allowed))})")

    def role(self, role: Any, what: str) -> None:
        if isinstance(role, str) and role.rpartition(":")[2].isdigit():
            role = role.rpartition(":")[0]  # "civil_registrar:2": a second person with the role
        if role is not None and not _known(role, ROLE_CODES):
            self.problem(f"{what}: ruolo sconosciuto '{role}' (ammessi: {', '.join(sorted(ROLE_CODES))})")


def load_model(folder: Path) -> Model:
    from engine.bundles import read_bundle

    bundle = read_bundle(folder)
    return model_from_files(folder.name, bundle.files)


def model_from_files(process_id: str, files: dict[str, str]) -> Model:
    """The procedure a scenario is checked against, from its files (a folder's or a draft's)."""
    from engine.manifest import Manifest, model_messages, model_specs, user_task_ids

    manifest_map = yaml.safe_load(files.get("manifest.yaml", "")) or {}
    specs = model_specs(process_id, files)
    manifest = Manifest.parse(process_id, manifest_map, files, specs=specs)
    return Model(process_id=process_id, user_tasks=user_task_ids(specs),
                 messages=frozenset(model_messages(specs)),
                 outcomes=frozenset(manifest.outcomes),
                 milestone_labels=frozenset(label for _e, label in manifest.public_milestones),
                 starts_from_platform=manifest.channels == {"platform"})


def load_scenarios(folder: Path) -> list[Scenario]:
    """Every scenario of `folder`/tests.yaml; a file that cannot run gives one Scenario carrying the
    problems (as `error`), so the runner fails it with that message instead of skipping it."""
    path = folder / "tests.yaml"
    pid = folder.name
    where = f"processes/{pid}/tests.yaml"
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        return [Scenario(pid, "<file>", {}, error=f"{where}: YAML non valido: {exc}")]
    if not isinstance(raw, dict) or set(raw) != {"scenarios"} or not isinstance(raw["scenarios"], list) \
            or not raw["scenarios"]:
        return [Scenario(pid, "<file>", {}, error=f"{where}: il file deve avere solo 'scenarios:', una lista non vuota")]
    try:
        model = load_model(folder)
    except Exception as exc:  # noqa: BLE001 - the bundle check names it; here: why no scenario runs
        return [Scenario(pid, "<file>", {}, error=f"{where}: la procedura non si carica: {exc}")]
    scenarios: list[Scenario] = []
    seen: set[str] = set()
    for index, spec in enumerate(raw["scenarios"], start=1):
        name = spec.get("name") if isinstance(spec, dict) else None
        label = str(name) if isinstance(name, str) and name else f"#{index}"
        checker = _Checker(f"{where}: scenario '{label}'", model)
        if not isinstance(spec, dict):
            checker.problem("deve essere una mappa")
        else:
            if not isinstance(name, str) or not name:
                checker.problem("manca 'name'")
            elif name in seen:
                checker.problem("nome ripetuto")
            seen.add(label)
            _check_scenario(spec, checker)
        error = "\n".join(checker.problems) or None
        scenarios.append(Scenario(pid, label, spec if isinstance(spec, dict) else {}, error=error, source=where))
    return scenarios


def _check_scenario(spec: dict[str, Any], c: _Checker) -> None:
    c.keys(spec, SCENARIO_KEYS, "scenario")
    if "settings" in spec and not isinstance(spec["settings"], dict):
        c.problem("'settings' associa a un'impostazione del procedimento il suo valore")
    if "registry" in spec:
        registry = spec["registry"]
        if not isinstance(registry, dict) or set(registry) - {"death_acts"} or not isinstance(
                registry.get("death_acts", []), list):
            c.problem("'registry' ha solo 'death_acts': una lista di atti di morte")
    if "at" in spec:
        try:
            _parse_at(spec["at"])
        except ValueError:
            c.problem(f"'at' non è una data e ora ISO 8601 con fuso: {spec['at']!r}")
    start = spec.get("start")
    if not isinstance(start, dict):
        c.problem("manca 'start' (chi apre la pratica e con quali dati)")
    else:
        c.keys(start, START_KEYS, "start")
        if not isinstance(start.get("data"), dict):
            c.problem("start: manca 'data' (i dati di avvio)")
        if "platform" in start:
            if "as" in start:
                c.problem("start: 'platform' e 'as' insieme (la apre una piattaforma o una persona)")
            if not start.get("business_key"):
                c.problem("start: una pratica aperta da una piattaforma ha un 'business_key'")
        else:
            if c.model.starts_from_platform:
                c.problem("start: questo procedimento lo apre solo una piattaforma ('platform')")
            if "as" not in start:
                c.problem("start: manca 'as' (il ruolo di chi apre la pratica)")
            c.role(start.get("as"), "start")
    for n, sim in enumerate(spec.get("simulators") or [], start=1):
        if not isinstance(sim, dict) or not isinstance(sim.get("platform"), str) or \
                not str(sim.get("post", "")).startswith("/__sim__/"):
            c.problem(f"simulators #{n}: serve {{platform, post: /__sim__/..., json}}")
        else:
            c.keys(sim, SIMULATOR_KEYS, f"simulators #{n}")
    steps = spec.get("steps") or []
    if not isinstance(steps, list):
        c.problem("'steps' deve essere una lista")
        steps = []
    for n, step in enumerate(steps, start=1):
        _check_step(step, n, c)
    if "expect" in spec:
        _check_expect(spec["expect"], c, "expect")


def _check_step(step: Any, n: int, c: _Checker) -> None:
    kinds = [k for k in (step if isinstance(step, dict) else {}) if k in STEP_KINDS]
    if len(kinds) != 1:
        c.problem(f"passo {n}: deve avere una sola tra {', '.join(sorted(STEP_KINDS))}")
        return
    kind = kinds[0]
    what = f"passo {n} ({kind}: {step[kind]})"
    c.keys(step, STEP_KEYS[kind], what)
    if kind == "complete":
        if not _known(step["complete"], c.model.user_tasks):
            c.problem(f"{what}: '{step['complete']}' non è un compito (user task) del modello "
                      f"(compiti: {', '.join(sorted(c.model.user_tasks))})")
        if not isinstance(step.get("data", {}), dict):
            c.problem(f"{what}: 'data' deve essere una mappa")
        c.role(step.get("as"), what)
    elif kind == "message":
        if not _known(step["message"], c.model.messages):
            c.problem(f"{what}: il messaggio '{step['message']}' non esiste nel modello "
                      f"(messaggi: {', '.join(sorted(c.model.messages)) or 'nessuno'})")
        if "as" not in step:
            c.problem(f"{what}: manca 'as' (chi consegna il messaggio)")
        c.role(step.get("as"), what)
    elif kind == "advance_days":
        days = step["advance_days"]
        if not isinstance(days, int) or isinstance(days, bool) or days <= 0:
            c.problem(f"{what}: 'advance_days' è un numero di giorni positivo")
    elif kind == "advance_hours":
        hours = step["advance_hours"]
        if not isinstance(hours, int | float) or isinstance(hours, bool) or hours <= 0:
            c.problem(f"{what}: 'advance_hours' è un numero di ore positivo")
    elif kind == "advance_to":
        try:
            _parse_at(step["advance_to"])
        except ValueError:
            c.problem(f"{what}: 'advance_to' è una data e ora ISO 8601 con fuso")
    elif kind == "deliver_outbox":
        if step["deliver_outbox"] is not True:
            c.problem(f"{what}: scrivere 'deliver_outbox: true'")
    elif kind == "pay":
        if step["pay"] is not True and step["pay"] != "late":
            c.problem(f"{what}: scrivere 'pay: true' (o 'pay: late' per una pratica già chiusa)")
    elif kind == "cancel":
        if not isinstance(step["cancel"], str) or not step["cancel"].strip():
            c.problem(f"{what}: 'cancel' è il motivo dell'annullamento")
        c.role(step.get("as"), what)
    elif kind == "send_back":
        if not _known(step["send_back"], c.model.user_tasks):
            c.problem(f"{what}: '{step['send_back']}' non è un compito (user task) del modello")
        c.role(step.get("as"), what)
    elif kind == "poll_deliveries":
        if step["poll_deliveries"] is not True:
            c.problem(f"{what}: scrivere 'poll_deliveries: true'")
    elif kind == "simulator":
        sim = step["simulator"]
        if not isinstance(sim, dict) or not isinstance(sim.get("platform"), str) or \
                not str(sim.get("post", "")).startswith("/__sim__/"):
            c.problem(f"{what}: serve {{platform, post: /__sim__/..., json}}")
        else:
            c.keys(sim, SIMULATOR_KEYS, what)
    elif kind == "expect":
        _check_expect(step["expect"], c, what)


def _check_expect(expect: Any, c: _Checker, what: str) -> None:
    if not isinstance(expect, dict) or not expect:
        c.problem(f"{what}: 'expect' deve essere una mappa non vuota")
        return
    c.keys(expect, EXPECT_KEYS, what)
    ready = expect.get("ready")
    if ready is not None:
        if not isinstance(ready, list):
            c.problem(f"{what}: 'ready' è la lista dei compiti aperti ([] se nessuno)")
        else:
            for bpmn_id in ready:
                if not _known(bpmn_id, c.model.user_tasks):
                    c.problem(f"{what}: 'ready' nomina '{bpmn_id}', che non è un compito del modello")
    if "status" in expect and not _known(expect["status"], STATUSES):
        c.problem(f"{what}: 'status' deve essere {', '.join(sorted(STATUSES))}")
    if "outcome" in expect and not _known(expect["outcome"], c.model.outcomes | {""}):
        c.problem(f"{what}: l'esito '{expect['outcome']}' non è tra gli 'outcomes' del manifest "
                  f"({', '.join(sorted(c.model.outcomes))})")
    documents = expect.get("documents")
    if documents is not None and (not isinstance(documents, dict) or not all(
            isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in documents.values())):
        c.problem(f"{what}: 'documents' associa a un tipo di documento quanti ne ha la pratica")
    milestones = expect.get("milestones")
    if milestones is not None:
        if not isinstance(milestones, list):
            c.problem(f"{what}: 'milestones' è la lista delle tappe che il cittadino vede")
        else:
            for label in milestones:
                if not _known(label, c.model.milestone_labels):
                    c.problem(f"{what}: la tappa '{label}' non è tra le 'public_milestones' del manifest")
    if "data" in expect and not isinstance(expect["data"], dict):
        c.problem(f"{what}: 'data' associa a una chiave dei dati della pratica il valore atteso")
    payments = expect.get("payments")
    if payments is not None and (not isinstance(payments, dict) or not all(
            k in PAYMENT_STATES and isinstance(v, int) and not isinstance(v, bool) for k, v in payments.items())):
        c.problem(f"{what}: 'payments' associa a uno stato ({', '.join(sorted(PAYMENT_STATES))}) quante posizioni")
    notices = expect.get("notices")
    if notices is not None and (not isinstance(notices, list) or not all(isinstance(n, dict) for n in notices)):
        c.problem(f"{what}: 'notices' è la lista delle comunicazioni inviate ({{kind, channel, status, ...}})")
    for key in ("protocol", "dossier"):
        if key in expect and not isinstance(expect[key], dict):
            c.problem(f"{what}: '{key}' deve essere una mappa")
    incidents = expect.get("open_incidents")
    if incidents is not None and (not isinstance(incidents, int) or isinstance(incidents, bool) or incidents < 0):
        c.problem(f"{what}: 'open_incidents' è un numero")


def _known(value: Any, names: Any) -> bool:
    return isinstance(value, str) and value in names


def _parse_at(value: Any) -> dt.datetime:
    when = value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    if when.tzinfo is None:
        raise ValueError("naive")
    return when


def discover(root: Path = PROCESSES) -> list[Scenario]:
    return [scenario for folder in sorted(p for p in root.iterdir() if (p / "tests.yaml").is_file())
            for scenario in load_scenarios(folder)]


# ---------------------------------------------------------------- running


class Runner:
    """Runs one checked scenario; every failure names the scenario and the step."""

    def __init__(self, scenario: Scenario, *, tenant, simulator_urls: dict[str, str],
                 make_user: Callable[..., Any] | None = None) -> None:
        self.scenario = scenario
        self.tenant = tenant
        self.simulator_urls = simulator_urls
        self.users: dict[str, Any] = {}
        self.case = None
        self.make_user = make_user or _make_user

    def fail(self, where: str, text: str) -> None:
        raise AssertionError(f"{self.scenario.source}: scenario '{self.scenario.name}', {where}: {text}")

    def user(self, role: str):
        if role not in self.users:
            # "registrar:2" is a second person with the same role (four-eyes steps).
            base = role.rpartition(":")[0] if role.rpartition(":")[2].isdigit() else role
            fiscal_code = ""
            if base == "citizen":
                fiscal_code = self.scenario.spec.get("citizen") or self._first_subject()
            self.users[role] = self.make_user(self.tenant, base, fiscal_code=fiscal_code)
        return self.users[role]

    def _first_subject(self) -> str:
        if self.case is not None and self.case.subjects:
            return self.case.subjects[0]["fiscal_code"]
        self.fail("citizen", "nessun soggetto: indicare 'citizen' (il codice fiscale del cittadino)")
        return ""

    def run(self) -> None:
        from common import clock

        spec = self.scenario.spec
        clock.freeze(_parse_at(spec["at"]) if "at" in spec else DEFAULT_START)
        if spec.get("settings"):
            self._settings(spec["settings"])
        for n, act in enumerate((spec.get("registry") or {}).get("death_acts") or [], start=1):
            self._death_act(n, act)
        for n, sim in enumerate(spec.get("simulators") or [], start=1):
            self._simulator(n, sim)
        self._start(spec["start"])
        for n, step in enumerate(spec.get("steps") or [], start=1):
            kind = next(k for k in step if k in STEP_KINDS)
            where = f"passo {n} ({kind}: {step[kind]})"
            getattr(self, f"_step_{kind}")(step, where)
        self._expect({"open_incidents": 0, **(spec.get("expect") or {})}, "expect finale")

    def _settings(self, values: dict[str, Any]) -> None:
        """The municipality's settings, set as its supervisor would (cases.process_settings)."""
        from cases.process_settings import settings_page_data, settings_update

        supervisor = self.user("supervisor")
        manifest, current = settings_page_data(tenant=self.tenant, user=supervisor, process_id=self.scenario.process_id)
        unknown = set(values) - set(current)
        if unknown:
            self.fail("settings", f"impostazioni sconosciute {sorted(unknown)} (dichiarate: {sorted(current)})")
        try:
            settings_update(tenant=self.tenant, user=supervisor, process_id=self.scenario.process_id,
                            values={**current, **values})
        except Exception as exc:  # noqa: BLE001
            self.fail("settings", f"impostazioni rifiutate: {_describe(exc)}")

    def _death_act(self, n: int, act: dict[str, Any]) -> None:
        """A death act drawn up and closed in the municipality's registers (registry.civil_status)."""
        from registry.civil_status.services import act_register
        from registry.models import Person
        from registry.text import normalise

        where = f"registry.death_acts[{n}]"
        try:
            who = act["deceased"]
            person = Person.objects.create(
                tenant=self.tenant, fiscal_code=who["fiscal_code"], given_name=who["given_name"],
                family_name=who["family_name"], search_name=normalise(f"{who['family_name']} {who['given_name']}"),
                sex=who.get("sex", "M"), birth_date=dt.date.fromisoformat(str(who["birth_date"])))
            data = {k: str(act[k]) for k in ("death_date", "death_time", "death_place") if k in act}
            act_register(tenant=self.tenant, actor=self.user("supervisor"), kind="death",
                         act_date=dt.date.fromisoformat(str(act["death_date"])), office="Ufficio di stato civile",
                         officer="Ufficiale dello stato civile", data=data, parties=[(person.pk, "deceased")],
                         part=str(act.get("part", "1")), series=str(act.get("series", "")))
        except Exception as exc:  # noqa: BLE001
            self.fail(where, f"atto di morte non registrato: {_describe(exc)}")

    def _simulator(self, n: int | str, sim: dict[str, Any]) -> None:
        import requests

        where = n if isinstance(n, str) else f"simulators #{n}"
        base = self.simulator_urls.get(sim["platform"])
        if base is None:
            self.fail(where, f"nessun simulatore '{sim['platform']}' "
                             f"(disponibili: {', '.join(sorted(self.simulator_urls))})")
        response = requests.post(base + sim["post"], json=sim.get("json") or {}, timeout=10)
        if response.status_code >= 400:
            self.fail(where, f"il simulatore ha risposto {response.status_code}: {response.text[:300]}")

    def _start(self, start: dict[str, Any]) -> None:
        from cases import services

        data = start["data"]
        try:
            if "platform" in start:
                self.case, _created = services.case_start_from_platform(
                    tenant=self.tenant, process_id=self.scenario.process_id, data=data,
                    business_key=str(start["business_key"]), source=str(start["platform"]))
            else:
                self.case = services.case_start(tenant=self.tenant, user=self.user(start["as"]),
                                                process_id=self.scenario.process_id, data=data,
                                                received_on=start.get("received_on"), channel=start.get("channel"),
                                                received_on_reason=str(start.get("received_on_reason") or ""))
        except Exception as exc:  # noqa: BLE001 - reported with the scenario's name
            self.fail("start", f"la pratica non si apre: {_describe(exc)}")

    def _step_complete(self, step: dict[str, Any], where: str) -> None:
        from cases import services
        from cases.models import WorkItem, WorkItemStatus

        item = WorkItem.objects.filter(case=self.case, bpmn_id=step["complete"], status=WorkItemStatus.OPEN).first()
        if item is None:
            self.fail(where, f"il compito non è aperto (aperti: {self._ready() or 'nessuno'})")
        user = self.user(step.get("as") or item.role)
        try:
            services.work_item_claim(work_item_id=item.pk, tenant=self.tenant, user=user)
            services.work_item_complete(work_item_id=item.pk, tenant=self.tenant, user=user,
                                        data=step.get("data") or {})
        except Exception as exc:  # noqa: BLE001
            self._refused(step, where, exc)
            return
        if "refused" in step:
            self.fail(where, f"doveva essere rifiutato ({step['refused']}), invece è stato completato")

    def _step_message(self, step: dict[str, Any], where: str) -> None:
        from cases import services

        self.case.refresh_from_db()
        try:
            services.case_message_deliver(case=self.case, user=self.user(step["as"]), message=step["message"],
                                          payload=step.get("payload"))
        except Exception as exc:  # noqa: BLE001
            self._refused(step, where, exc)
            return
        if "refused" in step:
            self.fail(where, f"doveva essere rifiutato ({step['refused']}), invece è stato consegnato")

    def _refused(self, step: dict[str, Any], where: str, exc: Exception) -> None:
        code = getattr(exc, "code", None)
        if "refused" not in step:
            self.fail(where, f"rifiutato: {_describe(exc)}")
        if code != step["refused"]:
            self.fail(where, f"rifiutato con '{code}' invece di '{step['refused']}': {_describe(exc)}")

    def _step_deliver_outbox(self, step: dict[str, Any], where: str) -> None:
        from engine import services as engine

        for _round in range(10):
            if not engine.outbox_deliver_due():
                return
        self.fail(where, "le chiamate ai servizi non si esauriscono dopo 10 giri")

    def _step_pay(self, step: dict[str, Any], where: str) -> None:
        """Pay the case's open pagoPA notices at the (simulated) PSP, then run the payments poller,
        which delivers `pagamento_ricevuto` to the case as the worker would."""
        import requests

        from cases.tasks import deliver_payments
        from connectors.pagopa.models import DebtPosition

        base = self.simulator_urls.get("pagopa")
        if base is None:
            self.fail(where, "nessun simulatore pagoPA")
        notices = list(DebtPosition.objects.filter(case_id=self.case.pk, paid_at__isnull=True)
                       .values_list("notice_number", flat=True))
        if not notices and step["pay"] is True:
            self.fail(where, "la pratica non ha avvisi pagoPA da pagare")
        for notice in notices:
            response = requests.post(f"{base}/__sim__/pay/{notice}", timeout=10)
            if response.status_code >= 400:
                self.fail(where, f"pagoPA ha rifiutato il pagamento di {notice}: {response.text[:300]}")
        delivered = deliver_payments()
        if step["pay"] == "late" and delivered:
            self.fail(where, "il pagamento è stato consegnato, ma la pratica doveva essere già chiusa")
        if step["pay"] is True and not delivered:
            self.fail(where, "il pagamento non è arrivato alla pratica (nessuna attesa di 'pagamento_ricevuto')")

    def _step_cancel(self, step: dict[str, Any], where: str) -> None:
        from cases import services

        try:
            services.case_cancel(case_id=self.case.pk, tenant=self.tenant, user=self.user(step.get("as") or "supervisor"),
                                 reason=step["cancel"])
        except Exception as exc:  # noqa: BLE001
            self._refused(step, where, exc)
            return
        if "refused" in step:
            self.fail(where, f"doveva essere rifiutato ({step['refused']}), invece è stata annullata")

    def _step_simulator(self, step: dict[str, Any], where: str) -> None:
        self._simulator(where, step["simulator"])

    def _step_send_back(self, step: dict[str, Any], where: str) -> None:
        from cases import services
        from engine.models import Incident, IncidentStatus

        incident = Incident.objects.filter(instance__case_id=self.case.pk, status=IncidentStatus.OPEN).order_by(
            "-pk").first()
        if incident is None:
            self.fail(where, "la pratica non ha incidenti aperti")
        try:
            services.incident_send_back(tenant=self.tenant, user=self.user(step.get("as") or "supervisor"),
                                        incident_id=incident.pk, target=step["send_back"],
                                        reason=str(step.get("reason") or "Dati da correggere (scenario)."))
        except Exception as exc:  # noqa: BLE001
            self._refused(step, where, exc)
            return
        if "refused" in step:
            self.fail(where, f"doveva essere rifiutato ({step['refused']}), invece la pratica è tornata indietro")

    def _step_poll_deliveries(self, step: dict[str, Any], where: str) -> None:
        from cases.tasks import poll_notice_deliveries

        poll_notice_deliveries()

    def _step_advance_days(self, step: dict[str, Any], where: str) -> None:
        from common import clock
        from engine import services as engine

        clock.advance(dt.timedelta(days=step["advance_days"]))
        engine.fire_due_timers()

    def _step_advance_hours(self, step: dict[str, Any], where: str) -> None:
        from common import clock
        from engine import services as engine

        clock.advance(dt.timedelta(hours=step["advance_hours"]))
        engine.fire_due_timers()

    def _step_advance_to(self, step: dict[str, Any], where: str) -> None:
        from common import clock
        from engine import services as engine

        delta = _parse_at(step["advance_to"]) - clock.now()
        if delta < dt.timedelta(0):
            self.fail(where, f"il tempo non torna indietro (ora: {clock.now().isoformat()})")
        clock.advance(delta)
        engine.fire_due_timers()

    def _step_expect(self, step: dict[str, Any], where: str) -> None:
        self._expect(step["expect"], where)

    def _ready(self) -> list[str]:
        from cases.models import WorkItem, WorkItemStatus

        return sorted(WorkItem.objects.filter(case=self.case, status=WorkItemStatus.OPEN)
                      .values_list("bpmn_id", flat=True))

    def _expect(self, expect: dict[str, Any], where: str) -> None:
        from cases import selectors
        from documents.models import Document
        from engine.models import Incident, IncidentStatus

        self.case.refresh_from_db()
        case = self.case
        if "ready" in expect and self._ready() != sorted(expect["ready"]):
            self.fail(where, f"compiti aperti {self._ready()}, attesi {sorted(expect['ready'])}")
        if "status" in expect and case.status != expect["status"]:
            self.fail(where, f"stato '{case.status}', atteso '{expect['status']}'")
        if "outcome" in expect and case.outcome != expect["outcome"]:
            self.fail(where, f"esito '{case.outcome}', atteso '{expect['outcome']}'")
        if "documents" in expect:
            kinds = Counter(Document.objects.filter(case=case).values_list("kind", flat=True))
            wanted = {kind: count for kind, count in expect["documents"].items()}
            got = {kind: kinds.get(kind, 0) for kind in wanted}
            if got != wanted:
                self.fail(where, f"documenti {dict(kinds)}, attesi {wanted}")
        if "milestones" in expect:
            view = selectors.case_public_view(case=case, user=self.user("citizen"))
            labels = [m["label"] for m in view["milestones"]]
            if labels != expect["milestones"]:
                self.fail(where, f"tappe visibili al cittadino {labels}, attese {expect['milestones']}")
        for key, value in (expect.get("data") or {}).items():
            if key not in case.data:
                self.fail(where, f"i dati della pratica non hanno '{key}' (chiavi: {sorted(case.data)})")
            if not _matches(case.data[key], value):
                self.fail(where, f"dati['{key}'] = {case.data[key]!r}, atteso {value!r}")
        if "legal_due_date" in expect and str(case.legal_due_date) != str(expect["legal_due_date"]):
            self.fail(where, f"scadenza legale {case.legal_due_date}, attesa {expect['legal_due_date']}")
        for bpmn_id, due in (expect.get("due") or {}).items():
            from cases.models import WorkItem, WorkItemStatus

            dues = sorted(str(d) for d in WorkItem.objects.filter(case=case, bpmn_id=bpmn_id).exclude(
                status__in=[WorkItemStatus.COMPLETED, WorkItemStatus.CANCELLED]).values_list("due_at", flat=True))
            if dues != [str(due)]:
                self.fail(where, f"scadenza del compito '{bpmn_id}': {dues}, attesa {due}")
        if "payments" in expect:
            from payments.selectors import positions_for_office, state_of

            states = Counter(state_of(p) for p in positions_for_office(tenant=self.tenant).filter(case_id=case.pk))
            got = {state: states.get(state, 0) for state in expect["payments"]}
            if got != expect["payments"]:
                self.fail(where, f"posizioni pagoPA per stato {dict(states)}, attese {expect['payments']}")
        if "notices" in expect:
            from cases.models import CitizenNotice

            notices = [{"kind": n.kind, "channel": n.channel, "status": n.status, "fiscal_code": n.fiscal_code,
                        "delivered_on": n.delivered_on.isoformat() if n.delivered_on else None,
                        "protocolled": bool(n.protocol_number)}
                       for n in CitizenNotice.objects.filter(case=case).order_by("sent_at", "pk")]
            if len(notices) != len(expect["notices"]) or not all(
                    _matches(got, want) for got, want in zip(notices, expect["notices"], strict=False)):
                self.fail(where, f"comunicazioni {notices}, attese {expect['notices']}")
        if "protocol" in expect:
            got = {d.kind: d.protocol_direction for d in Document.objects.filter(case=case).exclude(protocol_number="")
                   .exclude(kind="segnatura")}
            if got != expect["protocol"]:
                self.fail(where, f"documenti protocollati {got}, attesi {expect['protocol']}")
        if "dossier" in expect:
            from documents.models import DossierEntry

            for fiscal_code, kinds in expect["dossier"].items():
                entries = list(DossierEntry.objects.filter(case=case, fiscal_code=fiscal_code)
                               .select_related("document").order_by("pk"))
                got_kinds = sorted(e.document_type for e in entries)
                if got_kinds != sorted(kinds):
                    self.fail(where, f"fascicolo di {fiscal_code}: {got_kinds}, attesi {sorted(kinds)}")
                for e in entries:
                    if e.document.protocol_number and (e.protocol_number != e.document.protocol_number
                                                       or e.protocol_date != e.document.protocol_date):
                        self.fail(where, f"fascicolo di {fiscal_code}: {e.document_type} senza il protocollo "
                                         f"del documento ({e.document.protocol_number})")
        if "open_incidents" in expect:
            incidents = list(Incident.objects.filter(instance__case_id=case.pk, status=IncidentStatus.OPEN)
                             .values_list("kind", "message"))
            if len(incidents) != expect["open_incidents"]:
                self.fail(where, f"incidenti aperti {incidents}, attesi {expect['open_incidents']}")


def _make_user(tenant, role: str, *, fiscal_code: str = ""):
    """A person holding `role` in `tenant` for the scenario (no password: nobody logs in as them)."""
    import secrets

    from accounts.models import Membership, User

    user = User.objects.create_user(username=f"scenario.{role}.{tenant.slug}.{secrets.token_hex(4)}"[:150],
                                    password=None, fiscal_code=fiscal_code)
    Membership.objects.create(user=user, tenant=tenant, role=role)
    return user


def _matches(actual: Any, expected: Any) -> bool:
    """Equal, or for a mapping: the expected keys have the expected values (a subset)."""
    if isinstance(expected, dict) and isinstance(actual, dict):
        return all(k in actual and _matches(actual[k], v) for k, v in expected.items())
    return actual == expected


def _describe(exc: Exception) -> str:
    details = getattr(exc, "details", None)
    message = getattr(exc, "message", None) or str(exc)
    return f"{type(exc).__name__}({getattr(exc, 'code', '')}): {message}" + (f" {details}" if details else "")


# ---------------------------------------------------------------- the sandbox
#
# A draft's scenarios run in a child process that shares nothing with the live system but the code:
# - its own SQLite database, a copy of a migrated template cached under var/studio/sandbox/ (keyed
#   by the migrations' content, so a new migration builds a new template once);
# - its own var/ and media directories in a temporary folder (documents, LibreOffice profile);
# - a clean environment: none of the parent's DATABASE_URL, broker, object storage or secrets;
# - the connector simulators on loopback ports, fresh for each scenario as in the test suite;
# - the clock frozen by each scenario (`at`) and moved only by its steps;
# - a deed signer made for the run, valid on the scenarios' dates;
# - a wall-clock limit: past it the whole process group is killed and the scenarios not reached are
#   reported as such.
# Each scenario runs inside a transaction rolled back at its end, as in the test suite.

SANDBOX_TIMEOUT_SECONDS = 600
SANDBOX_SIMULATORS = ("anpr", "pdnd", "appio", "pagopa", "protocollo", "send")
SANDBOX_TENANT = {"name": "Comune di Capannori", "slug": "capannori", "istat_code": "046007",
                  "belfiore_code": "B648", "patron_month": 7, "patron_day": 25}
_REPO = Path(__file__).resolve().parents[1]


@dataclass
class ScenarioResult:
    name: str
    passed: bool
    message: str = ""
    seconds: float = 0.0
    state: dict[str, Any] | None = None  # what a recording replay shows: open tasks, status, ...

    def as_json(self) -> dict[str, Any]:
        out = {"name": self.name, "passed": self.passed, "message": self.message, "seconds": round(self.seconds, 2)}
        if self.state is not None:
            out["state"] = self.state
        return out


class SandboxError(Exception):
    """The sandbox could not run at all (the template database, the child process): Italian message."""


def _migrations_key() -> str:
    import hashlib

    digest = hashlib.sha256()
    for path in sorted(_REPO.glob("*/migrations/*.py")):
        digest.update(path.relative_to(_REPO).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def _sandbox_root() -> Path:
    from django.conf import settings

    return Path(settings.VAR_DIR) / "studio" / "sandbox"


def _base_env(workdir: Path, database: Path) -> dict[str, str]:
    """The child's whole environment: nothing of the parent's but PATH, HOME and locale."""
    import os

    env = {k: os.environ[k] for k in ("PATH", "HOME", "LANG", "LC_ALL", "TZ", "TMPDIR") if k in os.environ}
    env.update({
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "PROCEDO_ENV": "test",
        "PYTHONPATH": str(_REPO),
        "PYTHONDONTWRITEBYTECODE": "1",
        "PROCEDO_VAR_DIR": str(workdir / "var"),
        "PROCEDO_MEDIA_ROOT": str(workdir / "media"),
        "PROCEDO_PROCESSES_DIR": str(workdir / "processes"),
        "DATABASE_URL": f"sqlite:///{database}",
        "CELERY_BROKER_URL": "memory://",
        "PROCEDO_DOCUMENTS_CONVERTERS": "1",
    })
    return env


def sandbox_template() -> Path:
    """The migrated SQLite database the sandboxes copy, built once per set of migrations."""
    import fcntl
    import subprocess
    import sys
    import tempfile

    root = _sandbox_root()
    root.mkdir(parents=True, exist_ok=True)
    target = root / f"template-{_migrations_key()}.sqlite3"
    if target.is_file():
        return target
    with open(root / "template.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one build at a time; the others wait and reuse it
        if target.is_file():
            return target
        with tempfile.TemporaryDirectory(prefix="procedo-template-") as tmp:
            building = Path(tmp) / "db.sqlite3"
            env = _base_env(Path(tmp), building)
            done = subprocess.run([sys.executable, str(_REPO / "manage.py"), "migrate", "--noinput", "-v", "0"],
                                  cwd=_REPO, env=env, capture_output=True, text=True, timeout=1800)
            if done.returncode != 0:
                raise SandboxError(f"template database: migrate failed: {done.stderr[-2000:]}")
            _copy_then_rename(building, target)
        for old in root.glob("template-*.sqlite3"):
            if old != target:
                old.unlink(missing_ok=True)
    return target


def _copy_then_rename(source: Path, target: Path) -> None:
    import os
    import shutil

    partial = target.with_suffix(".partial")
    shutil.copyfile(source, partial)
    os.replace(partial, target)


def write_bundle(files: dict[str, str], folder: Path) -> None:
    """A draft's files (relative path -> text, binary as "base64:...") as a procedure folder.
    Paths are the draft's own: anything absolute or climbing out of the folder is refused."""
    import base64

    root = folder.resolve()
    for rel, content in files.items():
        path = (folder / rel).resolve()
        if Path(rel).is_absolute() or not path.is_relative_to(root) or path == root:
            raise SandboxError(f"percorso non ammesso nella bozza: {rel!r}")
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, str) and content.startswith("base64:"):
            path.write_bytes(base64.b64decode(content.removeprefix("base64:")))
        else:
            path.write_text(str(content), encoding="utf-8")


def run_in_sandbox(process_id: str, files: dict[str, str], *, only: list[str] | None = None,
                   spec: dict[str, Any] | None = None, timeout: float = SANDBOX_TIMEOUT_SECONDS,
                   on_result: Callable[[ScenarioResult], None] | None = None) -> list[ScenarioResult]:
    """Run the scenarios of a procedure's files (the draft's tests.yaml, or `spec` = one scenario to
    replay, for a recording) in a sandbox process; one result per scenario, in file order.

    `on_result` is called as each scenario ends (the run's page shows progress)."""
    import json
    import os
    import shutil
    import signal
    import subprocess
    import sys
    import tempfile
    import time

    if not process_id.isidentifier():
        raise SandboxError(f"nome di procedimento non valido: {process_id!r}")
    template = sandbox_template()
    workdir = Path(tempfile.mkdtemp(prefix="procedo-sandbox-"))
    try:
        folder = workdir / "processes" / process_id
        folder.mkdir(parents=True)
        write_bundle(files, folder)
        if spec is not None:
            (folder / "tests.yaml").write_text(yaml.safe_dump({"scenarios": [spec]}, allow_unicode=True,
                                                              sort_keys=False), encoding="utf-8")
        database = workdir / "db.sqlite3"
        shutil.copyfile(template, database)
        out = workdir / "results.jsonl"
        args = [sys.executable, "-m", "studio.scenarios", "--folder", str(folder), "--out", str(out),
                "--state" if spec is not None else "--no-state"]
        for name in only or []:
            args += ["--only", name]
        log = open(workdir / "child.log", "w")  # noqa: SIM115 - closed below
        child = subprocess.Popen(args, cwd=_REPO, env=_base_env(workdir, database), stdout=log,
                                 stderr=subprocess.STDOUT, start_new_session=True)
        results: list[ScenarioResult] = []
        seen = 0
        deadline = time.monotonic() + timeout
        timed_out = False
        while True:
            try:
                child.wait(timeout=0.5)
                finished = True
            except subprocess.TimeoutExpired:
                finished = False
            lines = out.read_text(encoding="utf-8").splitlines() if out.is_file() else []
            for line in lines[seen:]:
                if not line.endswith("}"):
                    break  # being written
                entry = json.loads(line)
                result = ScenarioResult(entry["name"], entry["passed"], entry.get("message", ""),
                                        entry.get("seconds", 0.0), entry.get("state"))
                results.append(result)
                seen += 1
                if on_result is not None:
                    on_result(result)
            if finished:
                break
            if time.monotonic() > deadline:
                timed_out = True
                os.killpg(child.pid, signal.SIGKILL)  # the child, its simulators and LibreOffice
                child.wait()
                break
        log.close()
        planned = _planned_names(folder, only)
        done = {r.name for r in results}
        for name in planned:
            if name not in done:
                why = (f"non eseguito: tempo scaduto ({int(timeout)} s)" if timed_out else
                       "non eseguito: il processo di prova si è interrotto")
                results.append(ScenarioResult(name, False, why))
        if child.returncode not in (0, None) and not timed_out and not results:
            tail = (workdir / "child.log").read_text(encoding="utf-8", errors="replace")[-1500:]
            raise SandboxError(f"il processo di prova si è interrotto: {tail}")
        return results
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _planned_names(folder: Path, only: list[str] | None) -> list[str]:
    try:
        raw = yaml.safe_load((folder / "tests.yaml").read_text(encoding="utf-8")) or {}
        names = [s.get("name") for s in raw.get("scenarios") or [] if isinstance(s, dict)]
    except (OSError, yaml.YAMLError, AttributeError):
        return []
    return [str(n) for n in names if n and (not only or n in only)]


def _sandbox_main(argv: list[str]) -> int:
    """The child: set up Django on the sandbox database, then run each scenario, one JSON line each."""
    import argparse
    import json
    import time

    import django

    parser = argparse.ArgumentParser()
    parser.add_argument("--folder", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--only", action="append", default=[])
    parser.add_argument("--state", action="store_true")
    parser.add_argument("--no-state", dest="state", action="store_false")
    args = parser.parse_args(argv)
    django.setup()

    from django.conf import settings
    from django.core.management import call_command
    from django.db import transaction

    from accounts.models import Tenant
    from common import clock
    folder = Path(args.folder)
    settings.PROCEDO_DOCUMENTS_SIGNERS = _sandbox_signer(Path(settings.VAR_DIR))
    call_command("sync_processes", verbosity=0)
    tenant = Tenant.objects.create(**SANDBOX_TENANT)
    with open(args.out, "a", encoding="utf-8") as out:
        for scenario in load_scenarios(folder):
            if args.only and scenario.name not in args.only:
                continue
            started = time.monotonic()
            state = None
            if scenario.error:
                passed, message = False, scenario.error
            else:
                servers, urls = _start_simulators(settings)
                runner = Runner(scenario, tenant=tenant, simulator_urls=urls)
                try:
                    with transaction.atomic():
                        try:
                            runner.run()
                            passed, message = True, ""
                        except AssertionError as exc:
                            passed, message = False, str(exc)
                        except Exception as exc:  # noqa: BLE001 - reported, the next scenario runs
                            passed, message = False, f"errore imprevisto: {_describe(exc)}"
                        if args.state:
                            state = _case_state(runner)
                        transaction.set_rollback(True)
                finally:
                    clock.reset()
                    for server in servers:
                        server.stop()
            out.write(json.dumps(ScenarioResult(scenario.name, passed, message, time.monotonic() - started,
                                                state).as_json(), ensure_ascii=False, default=str) + "\n")
            out.flush()
    return 0


def _start_simulators(settings: Any) -> tuple[list[Any], dict[str, str]]:
    import importlib

    from connectors.base.simulator import SimulatorServer

    servers, urls = [], {}
    # SEND at the speed of the frozen clock: a notice becomes "perfezionata" 7 simulated days after it is sent.
    settings.PROCEDO_SEND_SIM_SPEED = 1.0
    for platform in SANDBOX_SIMULATORS:
        module = importlib.import_module(f"connectors.{platform}.simulator")
        server = SimulatorServer(module.create_app()).start()
        servers.append(server)
        urls[platform] = server.url
        setattr(settings, f"PROCEDO_{platform.upper()}_BASE_URL", server.url)
        setattr(settings, f"PROCEDO_{platform.upper()}_TIMEOUT", "5")
    settings.PROCEDO_PDND_TOKEN_URL = urls["pdnd"] + "/token.oauth2"
    return servers, urls


def _sandbox_signer(var_dir: Path) -> dict[str, Any]:
    """A deed signer for this run only, valid on the scenarios' dates (2025-2030)."""
    import secrets

    from documents import pki

    ca = pki.make_ca(now=dt.datetime(2025, 1, 1, tzinfo=dt.UTC))
    issued = pki.issue(ca, "Ufficiale d'anagrafe - Sandbox", not_before=dt.datetime(2025, 1, 1, tzinfo=dt.UTC),
                       not_after=dt.datetime(2030, 1, 1, tzinfo=dt.UTC))
    passphrase = secrets.token_urlsafe(16)
    path = var_dir / "sandbox-signer.p12"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(issued.pkcs12(passphrase, [ca.cert]))
    return {"default": {"kind": "pkcs12", "path": str(path), "passphrase": passphrase}}


def _case_state(runner: Runner) -> dict[str, Any] | None:
    """Where the case stands after the replay (the recording page): open tasks with their role,
    status, outcome, pending service calls, open incidents, documents, the clock."""
    from cases.models import WorkItem, WorkItemStatus
    from documents.models import Document
    from engine.models import Incident, IncidentStatus, OutboxMessage, OutboxStatus

    case = runner.case
    if case is None:
        return None
    case.refresh_from_db()
    items = WorkItem.objects.filter(case=case, status=WorkItemStatus.OPEN).order_by("bpmn_id")
    return {
        "ready": [{"bpmn_id": i.bpmn_id, "name": i.name, "role": i.role} for i in items],
        "status": case.status, "outcome": case.outcome or "", "number": case.number,
        "pending_calls": OutboxMessage.objects.filter(
            instance__case_id=case.pk, status__in=[OutboxStatus.PENDING, OutboxStatus.RUNNING]).count(),
        "open_incidents": [message for _kind, message in Incident.objects.filter(
            instance__case_id=case.pk, status=IncidentStatus.OPEN).values_list("kind", "message")],
        "documents": dict(Counter(Document.objects.filter(case=case).values_list("kind", flat=True))),
        "now": _now_iso(),
    }


def _now_iso() -> str:
    from common import clock

    return clock.now().isoformat()


# ---------------------------------------------------------------- the studio's runs


def scenario_run_start(*, tenant: Any, user: Any, draft_id: str, process_id: str, files: dict[str, str],
                       kind: str = "scenarios", spec: dict[str, Any] | None = None) -> Any:
    """Queue a run of the draft's scenarios (after the commit, so the worker sees the row)."""
    import hashlib

    from django.db import transaction

    from common import clock
    from studio.models_tools import ScenarioRun

    digest = hashlib.sha256()
    for name in sorted(files):
        digest.update(name.encode() + b"\0" + str(files[name]).encode() + b"\0")
    run = ScenarioRun.objects.create(tenant=tenant, draft_id=str(draft_id), process_id=process_id, kind=kind,
                                     content_hash=digest.hexdigest(), spec=spec or {}, created_by=user,
                                     created_at=clock.now())
    transaction.on_commit(lambda: scenario_run_task.delay(run.pk, files))
    return run


def scenario_run_execute(*, run_id: int, files: dict[str, str], timeout: float | None = None) -> Any:
    """Run a queued run in the sandbox, storing each scenario's result as it ends."""
    from django.utils import timezone

    from studio.models_tools import ScenarioRun, ScenarioRunStatus

    claimed = ScenarioRun.objects.filter(pk=run_id, status=ScenarioRunStatus.QUEUED).update(
        status=ScenarioRunStatus.RUNNING, started_at=timezone.now())
    if not claimed:
        return None  # already taken (a task delivered twice)
    run = ScenarioRun.objects.get(pk=run_id)
    collected: list[dict[str, Any]] = []

    def store(result: ScenarioResult) -> None:
        collected.append(result.as_json())
        ScenarioRun.objects.filter(pk=run_id).update(results=collected)

    try:
        results = run_in_sandbox(run.process_id, files, spec=run.spec or None, on_result=store,
                                 timeout=timeout or SANDBOX_TIMEOUT_SECONDS)
    except SandboxError as exc:
        ScenarioRun.objects.filter(pk=run_id).update(status=ScenarioRunStatus.FAILED, error=str(exc)[:4000],
                                                     finished_at=timezone.now())
        return ScenarioRun.objects.get(pk=run_id)
    ScenarioRun.objects.filter(pk=run_id).update(status=ScenarioRunStatus.DONE,
                                                 results=[r.as_json() for r in results],
                                                 finished_at=timezone.now())
    return ScenarioRun.objects.get(pk=run_id)


@shared_task(name="studio.scenarios.scenario_run_task", acks_late=False, ignore_result=True)
def scenario_run_task(run_id: int, files: dict[str, str]) -> None:
    """Thin: the sandbox run of one ScenarioRun, with the draft's files as they were at launch
    (minutes at most; acked early: a run lost with its worker is not repeated, the admin starts
    another). A second delivery finds the run no longer queued and does nothing."""
    scenario_run_execute(run_id=run_id, files=files)


if __name__ == "__main__":
    import sys

    from studio.scenarios import _sandbox_main

    sys.exit(_sandbox_main(sys.argv[1:]))
