"""Backup and restore round trip on PostgreSQL: cases of the residence-change procedure with their
documents and audit trail are backed up with `manage.py backup`, restored by `manage.py restore`
into a fresh database and a fresh var/ folder (a second process, as on a new server), and come back
complete: every case, every document (hash-checked), every audit event, a verifying audit chain."""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import sys
import tarfile
import uuid
from pathlib import Path

import psycopg
import pytest
from django.conf import settings as django_settings
from django.core.management import call_command
from django.db import connection

from accounts.roles import Role
from audit.models import AuditEvent
from cases.models import Case
from cases.services import case_start
from connectors.models import ConnectorConfig
from documents import storage
from documents.models import Document
from documents.services import attachment_store
from ops.services import BackupError, backup_create, backup_restore
from tests.factories import declaration_payload, make_tenant, make_user

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]
DECLARATION = declaration_payload()


def _png(seed: int) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (8, 8), (seed % 256, 40, 90)).save(out, format="PNG")
    return out.getvalue()


def _server_url(name: str) -> str:
    s = connection.settings_dict
    auth = s["USER"] + (f":{s['PASSWORD']}" if s.get("PASSWORD") else "")
    return f"postgresql://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{name}"


@pytest.fixture
def empty_database():
    """A fresh, empty PostgreSQL database beside the test one, dropped afterwards."""
    name = f"{connection.settings_dict['NAME']}_restore_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(_server_url("postgres"), autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    yield name
    with psycopg.connect(_server_url("postgres"), autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def loaded(tmp_path, settings):
    """Two municipalities with residence-change cases, an attachment per case, keys on disk and an
    encrypted connector credential: what a backup must carry."""
    source_var = tmp_path / "source-var"
    settings.PROCEDO_DOCUMENTS_ROOT = str(source_var / "media" / "documents")
    settings.PROCEDO_DOCUMENTS_VAR_DIR = str(source_var / "documents")
    settings.PROCEDO_PDND_KEYS_DIR = str(source_var / "pdnd")
    keys = {
        "documents/pki/signer-demo.p12": os.urandom(64),
        "documents/softhsm/tokens/t1/token.object": os.urandom(32),
        "pdnd/046007.key": os.urandom(48),  # any bytes: the archive must bring them back as they were
    }
    for rel, data in keys.items():
        (source_var / rel).parent.mkdir(parents=True, exist_ok=True)
        (source_var / rel).write_bytes(data)
    (source_var / "documents/softhsm/softhsm2.conf").write_text(
        f"directories.tokendir = {source_var / 'documents/softhsm/tokens'}\nobjectstore.backend = file\n")
    call_command("sync_processes", verbosity=0)
    seed = 0
    for istat, belfiore in (("046007", "B648"), ("046017", "E715")):
        tenant = make_tenant(f"Comune {istat}", istat=istat, belfiore=belfiore)
        registrar = make_user(tenant, Role.REGISTRAR)
        ConnectorConfig.objects.create(tenant=tenant, platform="appio", credentials={"api_key": f"segreta-{istat}"})
        for _ in range(3):
            case = case_start(tenant=tenant, user=registrar, process_id="residence_change", data=DECLARATION)
            seed += 1
            attachment_store(tenant=tenant, user=registrar, case=case, data=_png(seed), filename=f"doc{seed}.png")
    return {"var": source_var, "keys": keys}


def _manage(*args: str, database: str, var: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROCEDO_DOCUMENTS")}
    env.update(DATABASE_URL=_server_url(database), PROCEDO_VAR_DIR=str(var), SECRET_KEY=django_settings.SECRET_KEY)
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300, check=False)


def _rows(database: str, sql: str) -> list[tuple]:
    with psycopg.connect(_server_url(database)) as conn:
        return conn.execute(sql).fetchall()


def test_a_backup_restored_on_a_new_server_gives_back_every_case_document_and_audit_event(loaded, empty_database, tmp_path):
    call_command("backup", output=str(tmp_path / "backups") + "/")
    (archive,) = (tmp_path / "backups").glob("procedo-backup-*.tar")
    assert archive.stat().st_mode & 0o077 == 0, "the archive holds private keys: owner-only"

    target_var = tmp_path / "new-server-var"
    restored = _manage("restore", str(archive), database=empty_database, var=target_var)
    assert restored.returncode == 0, restored.stderr
    assert "Ripristino verificato" in restored.stdout

    source_cases = sorted(Case.objects.values_list("pk", "number", "tenant__istat_code", "status"))
    assert len(source_cases) == 6
    assert _rows(empty_database, "SELECT c.id, c.number, t.istat_code, c.status FROM cases_case c "
                                 "JOIN accounts_tenant t ON t.id = c.tenant_id ORDER BY 1, 2, 3, 4") == source_cases
    source_docs = sorted(Document.objects.values_list("pk", "sha256"))
    assert len(source_docs) == 6
    assert _rows(empty_database, "SELECT id, sha256 FROM documents_document ORDER BY 1, 2") == source_docs
    for _, sha in source_docs:  # the bytes are on the new server, under their hash
        blob = target_var / "media" / "documents" / sha[:2] / sha[2:4] / sha
        assert hashlib.sha256(blob.read_bytes()).hexdigest() == sha
    source_audit = sorted(AuditEvent.objects.values_list("chain_key", "seq", "hash"))
    assert len(source_audit) >= 12
    assert _rows(empty_database, "SELECT chain_key, seq, hash FROM audit_auditevent ORDER BY 1, 2, 3") == source_audit
    for rel, data in loaded["keys"].items():
        assert (target_var / rel).read_bytes() == data
    assert str(target_var / "documents/softhsm/tokens") in (target_var / "documents/softhsm/softhsm2.conf").read_text()

    verified = _manage("verify_audit", database=empty_database, var=target_var)
    assert verified.returncode == 0 and "OK" in verified.stdout, verified.stderr

    # A second restore over the restored database is refused, and changes nothing.
    again = _manage("restore", str(archive), database=empty_database, var=target_var)
    assert again.returncode != 0
    assert "non è vuoto" in again.stderr and "--force" in again.stderr
    assert _rows(empty_database, "SELECT count(*) FROM cases_case") == [(6,)]


def test_the_manifest_counts_each_municipality_and_hashes_every_file(loaded, tmp_path):
    call_command("backup", output=str(tmp_path / "b.tar"))
    with tarfile.open(tmp_path / "b.tar") as tar:
        import json

        manifest = json.loads(tar.extractfile("manifest.json").read())
        names = {m.name for m in tar.getmembers()} - {"manifest.json"}
        assert names == set(manifest["files"])
        for name in names:
            assert hashlib.sha256(tar.extractfile(name).read()).hexdigest() == manifest["files"][name]["sha256"]
    assert manifest["created_at"]
    tenants = manifest["counts"]["tenants"]
    assert {k: (v["cases"], v["documents"]) for k, v in tenants.items()} == {"046007": (3, 3), "046017": (3, 3)}
    assert all(v["audit_events"] >= 6 for v in tenants.values())
    assert "PROCEDO_SECRETS_KEYS" in manifest["not_included"]
    assert not any(name.startswith("keys/") and "SECRETS" in name for name in names)


def test_a_tampered_archive_is_refused_before_anything_is_restored(loaded, tmp_path):
    call_command("backup", output=str(tmp_path / "b.tar"))
    tampered = tmp_path / "tampered.tar"
    with tarfile.open(tmp_path / "b.tar") as src, tarfile.open(tampered, "w") as dst:
        for member in src.getmembers():
            data = src.extractfile(member).read()
            if member.name.startswith("documents/"):
                data = data[:-1] + bytes([data[-1] ^ 1])  # one bit of one deed changed
            dst.addfile(member, io.BytesIO(data))
    before = Case.objects.count()
    with pytest.raises(BackupError, match="alterato"):
        backup_restore(archive=tampered, force=True)
    assert Case.objects.count() == before  # the database was not touched


def test_a_document_missing_from_storage_stops_the_backup(loaded, tmp_path):
    doc = Document.objects.first()
    blob = Path(django_settings.PROCEDO_DOCUMENTS_ROOT) / doc.sha256[:2] / doc.sha256[2:4] / doc.sha256
    blob.chmod(0o600)
    blob.unlink()
    assert not storage.exists(doc.sha256)
    with pytest.raises(BackupError, match="mancano"):
        backup_create(output=tmp_path / "b.tar")
    assert not (tmp_path / "b.tar").exists() and not list(tmp_path.glob(".backup-*"))
