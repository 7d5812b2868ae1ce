"""Backup and restore of one deployment: database, documents and keys in one tar archive.

Archive layout (`manifest.json` describes every other member by its SHA-256):

    manifest.json          format, created_at, server version, counts per tenant, audit chain heads,
                           sha256 and size of every other member
    database.dump          pg_dump, custom format, taken in the snapshot the counts were read in
    documents/<sha256>     the bytes of every Document row of that snapshot, read through
                           documents.storage (filesystem or S3 alike) and checked against their hash
    keys/documents/...     signing keys kept on disk: the PKCS#12 signer and CA (pki/), the SoftHSM
                           token (softhsm/)
    keys/pdnd/...          the tenants' PDND client keys generated in demo mode

NOT in the archive: the secrets that come from the environment (SECRET_KEY, PROCEDO_SECRETS_KEYS,
signer passphrases, S3 credentials). PROCEDO_SECRETS_KEYS (or, without it, SECRET_KEY) decrypts the
connector credentials stored in the database: keep them in the deployment's secret store, apart from
the backups; a restore run without them fails its credential check. The archive itself holds private
keys: it is written with mode 0600 and should be stored encrypted.

Consistency: the counts, the list of documents and pg_dump all read one exported REPEATABLE READ
snapshot, so the manifest describes exactly the dump. Document bytes are immutable and named by
their hash, so copying them after the snapshot cannot give a different file.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import os
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from django.db import connection, transaction
from django.db.models import Count
from django.utils.translation import gettext as _

from common.errors import ProcedoError

FORMAT = "procedo-backup/1"
MANIFEST = "manifest.json"
DUMP = "database.dump"
CHUNK = 1024 * 1024


class BackupError(ProcedoError):
    """A backup or restore that cannot be done, with the reason an operator can act on."""

    code = "backup_error"


@dataclass
class BackupResult:
    path: Path
    manifest: dict[str, Any]
    seconds: float


@dataclass
class RestoreReport:
    manifest: dict[str, Any]
    counts: dict[str, Any] = field(default_factory=dict)
    documents_checked: int = 0
    audit_events_checked: int = 0
    problems: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems


# --- what a backup holds ------------------------------------------------------


def _key_sources() -> dict[str, Path]:
    """Archive prefix -> folder on disk, for every folder of keys a backup carries."""
    from connectors.pdnd.keys import demo_keys_dir
    from documents import conf

    docs = conf.documents_var_dir()
    return {"keys/documents/pki": docs / "pki", "keys/documents/softhsm": docs / "softhsm", "keys/pdnd": demo_keys_dir()}


def _counts() -> dict[str, Any]:
    """Rows per tenant (by ISTAT code) and the head of every audit chain, as the restore must find them."""
    from accounts.models import Tenant
    from audit.models import AuditChainHead, AuditEvent
    from cases.models import Case
    from documents.models import Document

    istat = dict(Tenant.objects.values_list("pk", "istat_code"))
    per_tenant: dict[str, dict[str, int]] = {code: {"cases": 0, "documents": 0, "audit_events": 0} for code in istat.values()}
    for model, name in ((Case, "cases"), (Document, "documents")):
        for row in model.objects.values("tenant_id").annotate(n=Count("id")).order_by():
            per_tenant[istat[row["tenant_id"]]][name] = row["n"]
    system_events = 0
    for row in AuditEvent.objects.values("tenant_id").annotate(n=Count("id")).order_by():
        if row["tenant_id"] is None:
            system_events = row["n"]
        else:
            per_tenant[istat[row["tenant_id"]]]["audit_events"] = row["n"]
    heads = {h.chain_key: {"last_seq": h.last_seq, "last_hash": h.last_hash} for h in AuditChainHead.objects.order_by("chain_key")}
    return {"tenants": per_tenant, "system_audit_events": system_events, "audit_heads": heads}


# --- PostgreSQL tools ---------------------------------------------------------


def _require_postgresql() -> None:
    if connection.vendor != "postgresql":
        raise BackupError(_("Backup e ripristino richiedono PostgreSQL (DATABASE_URL): il database "
                            "SQLite della demo si salva copiando il file var/procedo.sqlite3 a servizio fermo."))


def _pg_tool(name: str) -> str:
    """pg_dump/pg_restore of the server's major version (Debian keeps one folder per version)."""
    connection.ensure_connection()
    major = connection.pg_version // 10000
    candidate = Path(f"/usr/lib/postgresql/{major}/bin/{name}")
    tool = str(candidate) if candidate.is_file() else shutil.which(name)
    if tool is None:
        raise BackupError(_("%(tool)s non trovato: installa il client PostgreSQL %(v)s.") % {"tool": name, "v": major})
    out = subprocess.run([tool, "--version"], capture_output=True, text=True, check=False).stdout
    try:
        tool_major = int(out.split()[-1].split(".")[0])
    except (IndexError, ValueError):
        tool_major = 0
    if tool_major < major:
        raise BackupError(_("%(tool)s è della versione %(t)s, il server della %(v)s: installa il client "
                            "PostgreSQL %(v)s.") % {"tool": name, "t": tool_major, "v": major})
    return tool


def _pg_env() -> dict[str, str]:
    s = connection.settings_dict
    env = {**os.environ, "PGDATABASE": str(s["NAME"])}
    for key, var in (("HOST", "PGHOST"), ("PORT", "PGPORT"), ("USER", "PGUSER"), ("PASSWORD", "PGPASSWORD")):
        if s.get(key):
            env[var] = str(s[key])
    sslmode = (s.get("OPTIONS") or {}).get("sslmode")
    if sslmode:
        env["PGSSLMODE"] = str(sslmode)
    return env


def _run(args: list[str], what: str) -> None:
    done = subprocess.run(args, env=_pg_env(), capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise BackupError(_("%(what)s non riuscito: %(err)s") % {"what": what, "err": done.stderr.strip()[-2000:]})


# --- archive helpers ----------------------------------------------------------


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes, files: dict[str, Any], mode: int = 0o600) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(data), mode, int(dt.datetime.now(dt.UTC).timestamp())
    tar.addfile(info, io.BytesIO(data))
    files[name] = {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}


def _add_file(tar: tarfile.TarFile, name: str, path: Path, files: dict[str, Any]) -> None:
    info = tar.gettarinfo(str(path), arcname=name)
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    with path.open("rb") as fh:
        tar.addfile(info, fh)
    files[name] = {"sha256": _sha256_file(path), "size": info.size}


def _files_under(root: Path) -> Iterator[Path]:
    if root.is_dir():
        yield from sorted(p for p in root.rglob("*") if p.is_file() and not p.is_symlink())


# --- backup -------------------------------------------------------------------


def backup_create(*, output: Path) -> BackupResult:
    """Write one archive of the configured database, its documents and the keys on disk.

    `output` is a folder (the archive gets a dated name inside it) or the archive's path."""
    from documents import storage
    from documents.models import Document

    _require_postgresql()
    started = dt.datetime.now(dt.UTC)
    pg_dump = _pg_tool("pg_dump")
    output = Path(output)
    target = output / f"procedo-backup-{started:%Y%m%dT%H%M%SZ}.tar" if output.is_dir() else output
    target.parent.mkdir(parents=True, exist_ok=True)
    files: dict[str, Any] = {}
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=".backup-", suffix=".tar")
    os.close(fd)
    tmp = Path(tmp_name)
    os.chmod(tmp, 0o600)
    try:
        with tempfile.TemporaryDirectory(prefix="procedo-backup-") as work, tarfile.open(tmp, "w") as tar:
            dump = Path(work) / DUMP
            # One snapshot for the counts, the document list and pg_dump: the manifest describes the dump.
            with transaction.atomic():
                with connection.cursor() as cursor:
                    cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                    cursor.execute("SELECT pg_export_snapshot()")
                    snapshot = cursor.fetchone()[0]
                counts = _counts()
                shas = sorted(set(Document.objects.values_list("sha256", flat=True)))
                _run([pg_dump, "--format=custom", f"--snapshot={snapshot}", f"--file={dump}"], "pg_dump")
            _add_file(tar, DUMP, dump, files)
            dump.unlink()
            missing = []
            for sha in shas:
                try:
                    data = storage.get(sha)  # checked against its hash
                except ProcedoError:
                    missing.append(sha)
                    continue
                _add_bytes(tar, f"documents/{sha}", data, files)
            if missing:
                raise BackupError(_("%(n)d documenti mancano dall'archivio dei documenti o risultano alterati "
                                    "(il primo: %(sha)s): backup interrotto.") % {"n": len(missing), "sha": missing[0]})
            for prefix, root in _key_sources().items():
                for path in _files_under(root):
                    _add_file(tar, f"{prefix}/{path.relative_to(root).as_posix()}", path, files)
            manifest = {
                "format": FORMAT,
                "created_at": started.isoformat(),
                "database": {"vendor": "postgresql", "server_version": connection.pg_version, "name": connection.settings_dict["NAME"]},
                "counts": counts,
                "not_included": ["SECRET_KEY", "PROCEDO_SECRETS_KEYS", "signer passphrases", "S3 credentials"],
                "files": files,
            }
            _add_bytes(tar, MANIFEST, json.dumps(manifest, indent=2, sort_keys=True).encode(), {})
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return BackupResult(target, manifest, (dt.datetime.now(dt.UTC) - started).total_seconds())


# --- restore ------------------------------------------------------------------


def _safe_name(name: str) -> bool:
    path = PurePosixPath(name)
    return bool(name) and not path.is_absolute() and ".." not in path.parts


def _read_manifest(tar: tarfile.TarFile) -> dict[str, Any]:
    try:
        member = tar.getmember(MANIFEST)
        manifest = json.loads(tar.extractfile(member).read())  # type: ignore[union-attr]
    except (KeyError, AttributeError, ValueError) as exc:
        raise BackupError(_("Archivio non valido: manca manifest.json o non è leggibile.")) from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BackupError(_("Archivio non valido: formato sconosciuto (atteso %(f)s).") % {"f": FORMAT})
    return manifest


def _check_members(tar: tarfile.TarFile, manifest: dict[str, Any]) -> None:
    """Every member is a plain file with a safe name, listed in the manifest with its hash: nothing
    is restored from an archive that was truncated, altered or padded."""
    expected = dict(manifest.get("files") or {})
    for member in tar.getmembers():
        if member.name == MANIFEST:
            continue
        if not member.isfile() or not _safe_name(member.name):
            raise BackupError(_("Archivio non valido: elemento non ammesso %(n)s.") % {"n": member.name})
        meta = expected.pop(member.name, None)
        if meta is None:
            raise BackupError(_("Archivio non valido: %(n)s non è nel manifest.") % {"n": member.name})
        digest = hashlib.sha256()
        handle = tar.extractfile(member)
        while chunk := handle.read(CHUNK):  # type: ignore[union-attr]
            digest.update(chunk)
        if digest.hexdigest() != meta.get("sha256"):
            raise BackupError(_("Archivio alterato: l'impronta di %(n)s non corrisponde al manifest.") % {"n": member.name})
    if expected:
        raise BackupError(_("Archivio incompleto: mancano %(n)d file (il primo: %(f)s).") % {"n": len(expected), "f": sorted(expected)[0]})


def _key_targets(tar: tarfile.TarFile, force: bool) -> list[tuple[tarfile.TarInfo, Path]]:
    """Where each key file goes; refuses to replace a different key already there unless forced."""
    sources = _key_sources()
    targets = []
    for member in tar.getmembers():
        prefix = next((p for p in sources if member.name.startswith(p + "/")), None)
        if prefix is None:
            continue
        path = sources[prefix] / member.name[len(prefix) + 1:]
        rewritten = member.name == "keys/documents/softhsm/softhsm2.conf"  # repointed after every restore
        if (path.exists() and not force and not rewritten
                and path.read_bytes() != tar.extractfile(member).read()):  # type: ignore[union-attr]
            raise BackupError(_("Esiste già una chiave diversa in %(p)s: il ripristino non la sostituisce "
                                "senza --force.") % {"p": path})
        targets.append((member, path))
    return targets


def backup_restore(*, archive: Path, force: bool = False) -> RestoreReport:
    """Restore an archive of backup_create into the configured (empty) database and storage, then verify it."""
    from documents import storage

    _require_postgresql()
    pg_restore = _pg_tool("pg_restore")
    clock0 = dt.datetime.now(dt.UTC)
    try:
        tar = tarfile.open(archive, "r")
    except (OSError, tarfile.TarError) as exc:
        raise BackupError(_("Archivio non leggibile: %(e)s") % {"e": exc}) from exc
    with tar:
        manifest = _read_manifest(tar)
        _check_members(tar, manifest)
        tables = connection.introspection.table_names()
        if tables and not force:
            raise BackupError(_("Il database %(db)s non è vuoto (%(n)d tabelle): il ripristino si fa in un database "
                                "vuoto. Usa --force per sostituirne il contenuto.")
                              % {"db": connection.settings_dict["NAME"], "n": len(tables)})
        keys = _key_targets(tar, force)
        report = RestoreReport(manifest=manifest)
        report.seconds["check_archive"] = (dt.datetime.now(dt.UTC) - clock0).total_seconds()

        t = dt.datetime.now(dt.UTC)
        with tempfile.TemporaryDirectory(prefix="procedo-restore-") as work:
            dump = Path(work) / DUMP
            with dump.open("wb") as fh:
                shutil.copyfileobj(tar.extractfile(DUMP), fh, CHUNK)  # type: ignore[misc]
            connection.close()
            args = [pg_restore, "--no-owner", "--no-privileges", "--exit-on-error", "--single-transaction"]
            if tables:
                args += ["--clean", "--if-exists"]
            _run([*args, f"--dbname={connection.settings_dict['NAME']}", str(dump)], "pg_restore")
        report.seconds["database"] = (dt.datetime.now(dt.UTC) - t).total_seconds()

        t = dt.datetime.now(dt.UTC)
        for member in tar.getmembers():
            if member.name.startswith("documents/"):
                data = tar.extractfile(member).read()  # type: ignore[union-attr]
                if storage.put(data) != member.name.split("/", 1)[1]:
                    report.problems.append(f"document {member.name}: content does not match its name")
        for member, path in keys:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(tar.extractfile(member).read())  # type: ignore[union-attr]
            os.chmod(path, member.mode & 0o777 or 0o600)
        _repoint_softhsm()
        report.seconds["files"] = (dt.datetime.now(dt.UTC) - t).total_seconds()

    t = dt.datetime.now(dt.UTC)
    backup_verify(report)
    report.seconds["verify"] = (dt.datetime.now(dt.UTC) - t).total_seconds()
    return report


def _repoint_softhsm() -> None:
    """The SoftHSM configuration names its token folder by absolute path: point it at the restored one."""
    from documents import hsm

    conf = hsm.softhsm_conf()
    if not conf.exists():
        return
    tokens = (hsm.softhsm_dir() / "tokens").resolve()
    lines = [f"directories.tokendir = {tokens}" if line.startswith("directories.tokendir") else line
             for line in conf.read_text().splitlines()]
    conf.write_text("\n".join(lines) + "\n")


def backup_verify(report: RestoreReport) -> None:
    """What a restore must prove: the counts of the manifest, every document's bytes against its stored
    SHA-256, the audit chains, and that the connector credentials still decrypt."""
    from audit.services import verify_chain
    from common.errors import ConfigurationError
    from connectors.models import ConnectorConfig
    from documents import storage
    from documents.models import Document

    expected = report.manifest.get("counts") or {}
    report.counts = _counts()
    for what in ("tenants", "system_audit_events", "audit_heads"):
        if report.counts.get(what) != expected.get(what):
            report.problems.append(f"{what}: restored {report.counts.get(what)!r}, manifest {expected.get(what)!r}")
    for pk, sha in Document.objects.values_list("pk", "sha256").order_by("pk").iterator(chunk_size=2000):
        report.documents_checked += 1
        try:
            storage.get(sha)
        except ProcedoError as exc:
            report.problems.append(f"document {pk} ({sha}): {exc}")
    chain = verify_chain()
    report.audit_events_checked = chain.checked
    if not chain.ok:
        where = f"event id={chain.first_broken.pk}" if chain.first_broken else "chain"
        report.problems.append(f"audit chain broken at {where}: {chain.reason}")
    for pk in ConnectorConfig.objects.values_list("pk", flat=True):
        try:
            ConnectorConfig.objects.get(pk=pk)
        except ConfigurationError:
            report.problems.append(f"connector configuration {pk}: credentials do not decrypt "
                                   "(set PROCEDO_SECRETS_KEYS / SECRET_KEY as on the source)")
