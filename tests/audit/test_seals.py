"""Seals anchor each audit chain: deleting its newest events, or the whole chain, and forging a
seal are all found by `verify_audit`. TRUNCATE of the audit tables is refused on PostgreSQL."""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from django.conf import settings
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction

from audit.models import AuditChainHead, AuditEvent, AuditSeal
from audit.seal import SealKey, seal_payload, sign
from audit.services import audit_record, audit_seal_chains, verify_chain
from common import clock
from tests.audit.test_chain import _tamper
from tests.factories import make_tenant

pytestmark = pytest.mark.django_db

SEALED_AT = dt.datetime(2026, 11, 30, 18, 0, tzinfo=dt.UTC)


def _events(tenant, n):
    """n events of case 0, whose chain is the tenant's shard 0 (the historic key, the tenant id)."""
    return [audit_record(tenant=tenant, actor=None, action="create", object_type="case", object_id="0", summary=str(i))
            for i in range(n)]


def _sealed_chain(n=5):
    tenant = make_tenant()
    events = _events(tenant, n)
    clock.freeze(SEALED_AT)
    try:
        seals = audit_seal_chains()
    finally:
        clock.reset()
    assert [(s.chain_key, s.seq, s.hash) for s in seals] == [(str(tenant.pk), n, events[-1].hash)]
    assert verify_chain().ok
    return tenant, events, seals[0]


def _verify_audit_fails(capsys) -> str:
    with pytest.raises(SystemExit) as exit_info:
        call_command("verify_audit")
    assert exit_info.value.code == 1
    return capsys.readouterr().err


def test_the_beat_task_seals_every_chain_through_the_celery_app():
    from config.celery import app

    tenant = make_tenant()
    _events(tenant, 3)
    audit_record(tenant=None, actor=None, action="system", object_type="x", object_id="1")
    entry = settings.CELERY_BEAT_SCHEDULE["audit-seal-chains"]
    assert entry["schedule"] == settings.PROCEDO_AUDIT_SEAL_INTERVAL * 60
    assert app.conf.beat_schedule["audit-seal-chains"]["task"] == entry["task"]
    app.loader.import_default_modules()  # what a worker does at start: finds audit/tasks.py
    assert app.tasks[entry["task"]].apply().get() == 2
    assert sorted(AuditSeal.objects.values_list("chain_key", "seq")) == [(str(tenant.pk), 3), ("system", 1)]
    # nothing new since: nothing sealed again; one more event: that chain only
    assert app.tasks[entry["task"]].apply().get() == 0
    _events(tenant, 1)
    assert app.tasks[entry["task"]].apply().get() == 1
    report = verify_chain()
    assert report.ok and report.seals_checked == 3


def test_deleting_the_tail_below_the_last_seal_is_detected_and_named(capsys):
    tenant, events, seal = _sealed_chain(5)
    # The attacker switches the triggers off, deletes the two newest events and rewinds the chain
    # head so that the hash chain itself looks complete.
    _tamper("DELETE FROM audit_auditevent WHERE id IN (%s, %s)", [events[3].pk, events[4].pk])
    _tamper("UPDATE audit_auditchainhead SET last_seq = 3, last_hash = %s WHERE chain_key = %s",
            [events[2].hash, str(tenant.pk)])
    report = verify_chain()
    assert not report.ok
    expected = "the chain ends at seq 3 but was sealed at seq 5 on 2026-11-30T18:00:00+00:00"
    assert [p.reason for p in report.problems if "sealed" in p.reason][0].startswith(expected)
    assert expected in _verify_audit_fails(capsys)


def test_deleting_the_whole_chain_is_detected(capsys):
    tenant, _events_, _seal = _sealed_chain(4)
    _tamper("DELETE FROM audit_auditevent WHERE chain_key = %s", [str(tenant.pk)])
    _tamper("DELETE FROM audit_auditchainhead WHERE chain_key = %s", [str(tenant.pk)])
    assert not AuditEvent.objects.filter(tenant=tenant).exists()
    report = verify_chain()
    assert not report.ok
    assert report.reason == "the chain is missing entirely but was sealed at seq 4 on 2026-11-30T18:00:00+00:00"
    err = _verify_audit_fails(capsys)
    assert f"catena {tenant.pk}: the chain is missing entirely but was sealed at seq 4" in err


def _own_key(name="Attaccante") -> SealKey:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=30)).sign(key, hashes.SHA256()))
    return SealKey(key, cert)


def test_a_seal_with_a_bad_signature_is_detected(capsys):
    tenant, events, seal = _sealed_chain(3)
    # A seal copied from the real one, moved down to seq 2: the signature no longer fits.
    forged = AuditSeal.objects.create(
        tenant=tenant, chain_key=seal.chain_key, seq=2, hash=events[1].hash, event_created_at=events[1].created_at,
        sealed_at=seal.sealed_at, algorithm=seal.algorithm, certificate=seal.certificate, signature=seal.signature,
    )
    report = verify_chain()
    assert not report.ok
    assert report.reason == (f"forged or damaged seal id={forged.pk} (seq 2, 2026-11-30T18:00:00+00:00): "
                             "signature does not verify")
    assert "signature does not verify" in _verify_audit_fails(capsys)


def test_a_seal_signed_with_another_key_is_detected_and_cannot_cover_a_deleted_tail(capsys):
    tenant, events, seal = _sealed_chain(5)
    # The attacker deletes the tail, then adds a seal of the shortened chain, newer than the real
    # one, signed correctly but with a key of their own.
    _tamper("DELETE FROM audit_auditevent WHERE id = %s", [events[4].pk])
    _tamper("UPDATE audit_auditchainhead SET last_seq = 4, last_hash = %s WHERE chain_key = %s",
            [events[3].hash, str(tenant.pk)])
    own = _own_key()
    sealed_at = SEALED_AT + dt.timedelta(hours=1)
    algorithm, signature = sign(seal_payload(chain_key=seal.chain_key, seq=4, hash=events[3].hash,
                                             event_created_at=events[3].created_at, sealed_at=sealed_at), own)
    AuditSeal.objects.create(tenant=tenant, chain_key=seal.chain_key, seq=4, hash=events[3].hash,
                             event_created_at=events[3].created_at, sealed_at=sealed_at, algorithm=algorithm,
                             certificate=own.certificate_pem, signature=signature)
    reasons = [p.reason for p in verify_chain().problems]
    assert any("not the chain's seal certificate" in r for r in reasons)
    assert any(r.startswith("the chain ends at seq 4 but was sealed at seq 5") for r in reasons)
    err = _verify_audit_fails(capsys)
    assert "not the chain's seal certificate" in err and "sealed at seq 5" in err


def test_a_rewritten_chain_does_not_match_its_seal():
    tenant, events, _seal = _sealed_chain(3)
    # Rewrite the chain from scratch with valid hashes (same length): only the seal tells.
    _tamper("DELETE FROM audit_auditevent WHERE chain_key = %s", [str(tenant.pk)])
    _tamper("DELETE FROM audit_auditchainhead WHERE chain_key = %s", [str(tenant.pk)])
    for i in range(3):
        audit_record(tenant=tenant, actor=None, action="create", object_type="case", object_id=f"altro-{i}")
    reasons = [p.reason for p in verify_chain().problems]
    assert reasons == ["event seq 3 no longer has the hash sealed on 2026-11-30T18:00:00+00:00 (chain rewritten)"]


def _protocol_seal(seal_key: SealKey) -> dict[str, str]:
    key_pem = seal_key.key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                         serialization.NoEncryption()).decode()
    return {"seal_key_pem": key_pem, "seal_cert_pem": seal_key.certificate_pem}


def test_the_tenant_protocol_seal_signs_and_a_changed_seal_key_keeps_retired_certificates(settings, tmp_path):
    from connectors.models import ConnectorConfig

    tenant = make_tenant()
    first = _own_key("Sigillo del Comune 2026")
    config = ConnectorConfig.objects.create(tenant=tenant, platform="protocollo", is_active=True,
                                            credentials=_protocol_seal(first))
    _events(tenant, 2)
    (seal,) = audit_seal_chains()
    assert seal.certificate == first.certificate_pem
    assert verify_chain().ok
    # The municipality gets a new seal: the old seals are no longer vouched for...
    config.credentials = _protocol_seal(_own_key("Sigillo del Comune 2027"))
    config.save()
    assert "not the chain's seal certificate" in verify_chain().reason
    # ...until the old certificate is declared retired; a new seal then uses the new key.
    retired = tmp_path / "seal-2026.pem"
    retired.write_text(first.certificate_pem)
    settings.PROCEDO_AUDIT_SEAL_RETIRED_CERTS = [str(retired)]
    _events(tenant, 1)
    (newer,) = audit_seal_chains()
    assert newer.certificate != first.certificate_pem
    report = verify_chain()
    assert report.ok and report.seals_checked == 2


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)  # committed rows, as in production (no pending FK checks)
@pytest.mark.parametrize("table", ["audit_auditevent", "audit_auditseal", "audit_auditchainhead"])
def test_postgresql_refuses_truncate_of_the_audit_tables(table):
    _sealed_chain(2)
    before = AuditEvent.objects.count(), AuditSeal.objects.count(), AuditChainHead.objects.count()
    with pytest.raises(DatabaseError, match=f"append-only: TRUNCATE on {table} refused"), transaction.atomic(), \
            connection.cursor() as cur:
        cur.execute(f"TRUNCATE {table} CASCADE")
    assert (AuditEvent.objects.count(), AuditSeal.objects.count(), AuditChainHead.objects.count()) == before
    assert verify_chain().ok


@pytest.mark.postgres
@pytest.mark.parametrize("sql", ["UPDATE audit_auditseal SET seq = 1 WHERE id = %s", "DELETE FROM audit_auditseal WHERE id = %s"])
def test_postgresql_refuses_changing_or_deleting_a_seal(sql):
    _tenant, _events_, seal = _sealed_chain(2)
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cur:
        cur.execute(sql, [seal.pk])
    assert AuditSeal.objects.get(pk=seal.pk).seq == 2


def test_seal_audit_seals_now_and_verify_audit_counts_the_seals(capsys):
    tenant = make_tenant()
    _events(tenant, 2)
    call_command("seal_audit")
    assert "OK: 1 catene sigillate" in capsys.readouterr().out
    call_command("verify_audit")
    assert "OK: 2 eventi verificati, 1 sigilli verificati" in capsys.readouterr().out
