"""The legacy import's check of a sample against ANPR (the ANPR simulator over HTTP, seeded with
some of the export's people, one of them different, one missing), ANPR down, the live progress
page of a run (htmx polling of the run row) and the worker task."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.conf import settings as django_settings

from connectors.anpr.simulator import AnprSimulator, KeySource
from connectors.base.simulator import SimulatorServer
from connectors.pdnd.simulator import PdndSimulator
from registry.legacy.anpr_sample import sample_of
from registry.legacy.importer import import_run
from registry.legacy.reconcile import reconcile
from registry.models import ImportPhase, ImportRun, ImportStatus, Person
from tests.factories import make_user, second_factor_client

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


def _anpr_person(row: dict, **changes) -> dict:
    person = {"fiscal_code": row["fiscal_code"], "family_name": row["family_name"], "given_name": row["given_name"],
              "sex": row["sex"], "birth_date": row["birth_date"].isoformat(),
              "birth_place": {"name": "ROMA", "istat": "058091", "province": "RM"},
              "family": f"F{row['legacy_id']}", "relation": "1"}
    person.update(changes)
    return person


@pytest.fixture
def anpr_for(monkeypatch):
    """Start an ANPR simulator seeded with the given people (and PDND), wired through the settings."""
    from connectors.pdnd import voucher as voucher_module
    from connectors.pdnd.keys import demo_keys_dir

    started = []

    def start(seed: list[dict]) -> AnprSimulator:
        pdnd = PdndSimulator(keys_dir=demo_keys_dir())
        simulator = AnprSimulator(keys=KeySource(pdnd=pdnd), seed=seed)
        voucher_module.forget_vouchers()
        pdnd_server, anpr_server = SimulatorServer(pdnd).start(), SimulatorServer(simulator).start()
        started.extend([pdnd_server, anpr_server])
        monkeypatch.setattr(django_settings, "PROCEDO_ANPR_BASE_URL", anpr_server.url)
        monkeypatch.setattr(django_settings, "PROCEDO_PDND_BASE_URL", pdnd_server.url)
        monkeypatch.setattr(django_settings, "PROCEDO_PDND_TOKEN_URL", pdnd_server.url + "/token.oauth2")
        monkeypatch.setattr(django_settings, "PROCEDO_ANPR_TIMEOUT", "3")
        monkeypatch.setattr(django_settings, "PROCEDO_ANPR_ALIGN_RATE", 1000.0)
        return simulator

    yield start
    for server in started:
        server.stop()

    voucher_module.forget_vouchers()


def test_the_dry_run_reports_where_a_sample_of_the_export_disagrees_with_anpr(tenant, export, anpr_for, tmp_path):
    folder, _defects = export
    sample = sample_of(reconcile(folder, tenant=tenant), 6)
    assert len(sample) == 6
    same, renamed, missing = sample[:4], sample[4], sample[5]
    simulator = anpr_for([_anpr_person(r) for r in same] + [_anpr_person(renamed, given_name="ZEFFIRINO")])
    with simulator.lock:  # the ANPR ids the legacy register received at the takeover are ANPR's own
        for row in [*same, renamed]:
            if row["anpr_id"]:
                simulator.people[row["fiscal_code"]]["id_anpr"] = row["anpr_id"]
    run = import_run(tenant=tenant, folder=folder, report_dir=tmp_path / "report", anpr_sample=6)
    assert run.status == ImportStatus.DONE and run.phase == ImportPhase.DONE
    assert run.anpr_sample == {"size": 6, "checked": 6, "matching": 4, "mismatched": 1, "not_found": 1, "errors": 0,
                               "error": ""}
    issues = {i.reason: i for i in run.issues.filter(reason__startswith="anpr_")}
    assert set(issues) == {"anpr_given_name", "anpr_not_found"}
    assert issues["anpr_given_name"].key == renamed["legacy_id"] and issues["anpr_given_name"].line >= 2
    assert "ZEFFIRINO" in issues["anpr_given_name"].message and issues["anpr_given_name"].severity == "warning"
    assert issues["anpr_not_found"].key == missing["legacy_id"]
    # the people with a warning are counted as such; nothing is written by a dry run
    assert run.counts["people"]["warnings"] >= 2
    assert not Person.objects.for_tenant(tenant).exists()
    summary = (tmp_path / "report" / "riepilogo.txt").read_text(encoding="utf-8")
    assert "Verifica a campione con ANPR: 6 persone verificate su 6; 4 uguali, 1 con differenze, 1 non trovate" in summary
    report = json.loads((tmp_path / "report" / "rapporto.json").read_text(encoding="utf-8"))
    assert report["anpr_sample"]["mismatched"] == 1
    # asking ANPR about people is a read of personal data: audited
    from audit.models import AuditEvent

    event = AuditEvent.objects.get(tenant=tenant, object_type="registry_import", object_id=str(run.pk), action="read")
    assert event.after["checked"] == 6 and event.after["not_found"] == 1


def test_anpr_down_is_reported_and_does_not_stop_the_import(tenant, export, tmp_path, monkeypatch):
    import socket

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{probe.getsockname()[1]}"
    for name in ("PROCEDO_ANPR_BASE_URL", "PROCEDO_PDND_BASE_URL"):
        monkeypatch.setattr(django_settings, name, dead)
    monkeypatch.setattr(django_settings, "PROCEDO_PDND_TOKEN_URL", dead + "/token.oauth2")
    monkeypatch.setattr(django_settings, "PROCEDO_ANPR_ALIGN_RATE", 1000.0)
    folder, _defects = export
    run = import_run(tenant=tenant, folder=folder, report_dir=tmp_path / "r", anpr_sample=10)
    assert run.status == ImportStatus.DONE
    assert run.anpr_sample["errors"] == 3 and run.anpr_sample["checked"] == 0
    assert "ANPR non risponde" in run.anpr_sample["error"]
    assert "ANPR non risponde" in (tmp_path / "r" / "riepilogo.txt").read_text(encoding="utf-8")


def test_the_run_page_follows_a_long_import_live(tenant, other_tenant, supervisor, registrar):
    run = ImportRun.objects.create(tenant=tenant, mode="commit", source="/srv/export", fingerprint="f" * 64,
                                   total_batches=10, last_batch=3, phase=ImportPhase.COMMIT,
                                   started_at=dt.datetime(2026, 12, 1, 9, tzinfo=dt.UTC))
    client = second_factor_client(supervisor)
    page = client.get(f"/anagrafe/importazioni/{run.pk}/").content.decode()
    progress_url = f"/anagrafe/importazioni/{run.pk}/avanzamento/"
    assert f'hx-get="{progress_url}"' in page and 'hx-trigger="every 2s"' in page
    fragment = client.get(progress_url).content.decode()
    assert "3 lotti scritti su 10" in fragment and "Scrittura a lotti" in fragment
    assert 'value="3"' in fragment and 'max="10"' in fragment
    # the worker moves on: the next poll shows it; once finished, the fragment stops polling
    ImportRun.objects.filter(pk=run.pk).update(last_batch=10, status=ImportStatus.DONE, phase=ImportPhase.DONE)
    fragment = client.get(progress_url).content.decode()
    assert "hx-get" not in fragment and "Terminata" in fragment
    # supervisors of the municipality only
    assert second_factor_client(registrar).get(progress_url).status_code == 404
    assert second_factor_client(make_user(other_tenant, "supervisor")).get(progress_url).status_code == 404


def test_the_worker_task_runs_the_import_and_records_its_phases(tenant, export, tmp_path, settings):
    from registry.tasks import registry_import_task

    settings.VAR_DIR = tmp_path
    folder, _defects = export
    dry_id = registry_import_task.run(tenant.pk, str(folder), False, 1000, 0, "test")
    commit_id = registry_import_task.run(tenant.pk, str(folder), True, 100, 0, "test")
    dry, commit = ImportRun.objects.get(pk=dry_id), ImportRun.objects.get(pk=commit_id)
    assert dry.mode == "dry_run" and commit.mode == "commit"
    assert commit.status == ImportStatus.DONE and commit.phase == ImportPhase.DONE
    assert commit.last_batch == commit.total_batches > 1
    assert Person.objects.for_tenant(tenant).count() == commit.counts["people"]["accepted"]
