"""Runs the scenarios every procedure folder carries as data (`processes/<id>/tests.yaml`, format in
tests/procedures/scenarios.py), each as its own test, through the real services on PostgreSQL with
the connector simulators over HTTP. A scenario file that does not fit its procedure (an unknown
task, message, outcome or key) fails here with the file, the scenario and the step named."""

from __future__ import annotations

import datetime as dt
import importlib
from pathlib import Path

import pytest
import yaml
from django.core.management import call_command

from tests.factories import make_tenant
from tests.procedures.scenarios import PROCESSES, Runner, discover, load_scenarios

SCENARIOS = discover()


@pytest.fixture
def simulator_urls(monkeypatch):
    """Every connector simulator, fresh for each scenario, on an ephemeral port, wired through the settings."""
    from django.conf import settings as django_settings

    from connectors.base.simulator import SimulatorServer

    servers, urls = [], {}
    # SEND at the speed of common.clock: a notice becomes "perfezionata" 7 simulated days after it is sent.
    monkeypatch.setattr(django_settings, "PROCEDO_SEND_SIM_SPEED", 1.0)
    for platform in ("anpr", "pdnd", "appio", "pagopa", "protocollo", "send"):
        module = importlib.import_module(f"connectors.{platform}.simulator")
        server = SimulatorServer(module.create_app())
        server.start()
        servers.append(server)
        urls[platform] = server.url
        monkeypatch.setattr(django_settings, f"PROCEDO_{platform.upper()}_BASE_URL", server.url)
        monkeypatch.setattr(django_settings, f"PROCEDO_{platform.upper()}_TIMEOUT", "5")
    monkeypatch.setattr(django_settings, "PROCEDO_PDND_TOKEN_URL", urls["pdnd"] + "/token.oauth2")
    yield urls
    for server in servers:
        server.stop()


@pytest.fixture(scope="module")
def deed_signer(tmp_path_factory):
    """A deed signer valid on the scenarios' frozen dates (the demo one is issued today)."""
    from documents import pki

    ca = pki.make_ca(now=dt.datetime(2025, 1, 1, tzinfo=dt.UTC))
    issued = pki.issue(ca, "Ufficiale d'anagrafe - Capannori", not_before=dt.datetime(2025, 1, 1, tzinfo=dt.UTC),
                       not_after=dt.datetime(2030, 1, 1, tzinfo=dt.UTC))
    path = tmp_path_factory.mktemp("pki") / "signer.p12"
    path.write_bytes(issued.pkcs12("prova", [ca.cert]))
    return {"default": {"kind": "pkcs12", "path": str(path), "passphrase": "prova"}}


@pytest.mark.postgres
@pytest.mark.django_db
@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.id for s in SCENARIOS])
def test_scenario(scenario, simulator_urls, deed_signer, settings):
    if scenario.error:
        pytest.fail(scenario.error, pytrace=False)
    settings.PROCEDO_DOCUMENTS_SIGNERS = deed_signer
    call_command("sync_processes", verbosity=0)
    # The municipality the ANPR simulator knows (its seeded people and street numbers live there).
    tenant = make_tenant("Comune di Capannori", istat="046007", belfiore="B648", patron=(7, 25))
    Runner(scenario, tenant=tenant, simulator_urls=simulator_urls).run()


def test_every_shipped_procedure_carries_scenarios_for_each_outcome():
    by_process: dict[str, set[str]] = {}
    for scenario in SCENARIOS:
        assert scenario.error is None, scenario.error
        final = scenario.spec.get("expect") or {}
        by_process.setdefault(scenario.process_id, set()).add(final.get("outcome"))
    for folder in sorted(p for p in PROCESSES.iterdir() if (p / "manifest.yaml").is_file()):
        outcomes = set((yaml.safe_load((folder / "manifest.yaml").read_text()) or {}).get("outcomes") or {})
        assert outcomes <= by_process.get(folder.name, set()), (folder.name, outcomes - by_process.get(folder.name, set()))


# ---------------------------------------------------------------- a wrong scenario file


@pytest.fixture
def folder(tmp_path):
    import shutil

    shutil.copytree(PROCESSES / "residence_change", tmp_path / "residence_change")
    return tmp_path / "residence_change"


def _write(folder: Path, scenarios) -> list[str]:
    (folder / "tests.yaml").write_text(yaml.safe_dump({"scenarios": scenarios}, allow_unicode=True, sort_keys=False))
    return [s.error or "" for s in load_scenarios(folder)]


START = {"as": "registrar", "data": {"declarants": []}}


@pytest.mark.parametrize(
    ("scenario", "expected"),
    [
        ({"name": "x", "start": START, "steps": [{"complete": "registraton"}]},
         "passo 1 (complete: registraton): 'registraton' non è un compito (user task) del modello"),
        ({"name": "x", "start": START, "steps": [{"message": "citizen_replied", "as": "citizen"}]},
         "il messaggio 'citizen_replied' non esiste nel modello"),
        ({"name": "x", "start": START, "expect": {"outcome": "acepted"}},
         "l'esito 'acepted' non è tra gli 'outcomes' del manifest"),
        ({"name": "x", "start": START, "expect": {"ready": ["police"]}},
         "'ready' nomina 'police', che non è un compito del modello"),
        ({"name": "x", "start": START, "expect": {"milestones": ["Chiusa"]}},
         "la tappa 'Chiusa' non è tra le 'public_milestones' del manifest"),
        ({"name": "x", "start": START, "expect": {"outcom": "accepted"}}, "expect: chiave sconosciuta 'outcom'"),
        ({"name": "x", "start": {**START, "as": "janitor"}}, "start: ruolo sconosciuto 'janitor'"),
        ({"name": "x", "start": START, "steps": [{"advance_days": -3}]}, "'advance_days' è un numero di giorni positivo"),
        ({"name": "x", "start": START, "steps": [{"complete": "registration", "deliver_outbox": True}]},
         "passo 1: deve avere una sola tra"),
        ({"name": "x", "steps": []}, "manca 'start'"),
    ],
)
def test_a_wrong_scenario_fails_naming_file_scenario_and_step(folder, scenario, expected):
    [error] = _write(folder, [scenario])
    assert error.startswith("processes/residence_change/tests.yaml: scenario 'x'") and expected in error, error


def test_a_scenario_file_that_is_not_a_list_of_scenarios_fails_as_a_whole(folder):
    (folder / "tests.yaml").write_text("scenario:\n  - name: x\n")
    [broken] = load_scenarios(folder)
    assert broken.error == "processes/residence_change/tests.yaml: il file deve avere solo 'scenarios:', una lista non vuota"
