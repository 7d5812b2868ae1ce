"""Each tenant has several audit chains (shards), so that its transactions do not queue on one head
row; the events of one case stay in order in one chain, and a deletion in any shard is found."""

from __future__ import annotations

import threading

import pytest
from django.core.management import call_command
from django.db import OperationalError, connection, transaction

from audit.models import AuditEvent
from audit.services import audit_record, audit_seal_chains, chain_key_for, verify_chain
from tests.audit.test_chain import _tamper
from tests.factories import make_tenant

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

SHARDS = 4


@pytest.fixture(autouse=True)
def _four_shards(settings):
    settings.PROCEDO_AUDIT_CHAIN_SHARDS = SHARDS


def _case_event(tenant, case_id: int, summary: str = "", **extra):
    return audit_record(tenant=tenant, actor=None, action="update", object_type="case", object_id=str(case_id),
                        summary=summary, **extra)


def _spread(tenant, cases=(1, 2, 3, 4), per_case=3):
    """Events of several cases, each its own transaction: every shard gets some."""
    return {c: [_case_event(tenant, c, f"{c}/{i}") for i in range(per_case)] for c in cases}


def test_the_events_of_one_case_stay_in_order_in_the_chain_of_its_shard():
    tenant = make_tenant()
    written = {c: [] for c in (5, 6, 9)}
    for i in range(4):  # interleaved, as many desks working at once would write them
        for case_id in written:
            written[case_id].append(_case_event(tenant, case_id, f"passo {i}"))
    # a work-item event names its case explicitly
    written[6].append(audit_record(tenant=tenant, actor=None, action="complete", object_type="work_item",
                                   object_id="77", case_id=6, summary="passo 4"))
    for case_id, events in written.items():
        expected_key = chain_key_for(tenant, case_id % SHARDS)
        stored = list(AuditEvent.objects.filter(pk__in=[e.pk for e in events]).order_by("seq"))
        assert {e.chain_key for e in stored} == {expected_key}
        assert [e.summary for e in stored] == [f"passo {i}" for i in range(len(events))]
    # 5 and 9 share shard 1: one chain, both cases in it, contiguous
    assert AuditEvent.objects.filter(chain_key=chain_key_for(tenant, 1)).count() == 8
    assert verify_chain(tenant=tenant).ok


def test_one_transaction_writes_all_its_events_of_a_tenant_to_one_chain():
    tenant = make_tenant()
    with transaction.atomic():
        first = _case_event(tenant, 1)
        other_case = _case_event(tenant, 2)
        read = audit_record(tenant=tenant, actor=None, action="read", object_type="case_list", object_id="*")
    assert first.chain_key == other_case.chain_key == read.chain_key == chain_key_for(tenant, 1)
    assert [first.seq, other_case.seq, read.seq] == [1, 2, 3]
    # after commit the next transaction chooses again
    assert _case_event(tenant, 2).chain_key == chain_key_for(tenant, 2)


def _hold_a_head(tenant, case_id, holding: threading.Event, release: threading.Event):
    try:
        with transaction.atomic():
            _case_event(tenant, case_id, "tiene la testa")
            holding.set()
            release.wait(20)
    finally:
        connection.close()


def _write_with_lock_timeout(write):
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL lock_timeout = '1s'")
        return write()


@pytest.mark.parametrize("shards, waits", [(SHARDS, False), (1, True)])
def test_a_read_of_a_tenant_does_not_wait_for_a_writer_of_the_same_tenant(settings, shards, waits):
    """With one chain per tenant (shards=1, the design before) the second transaction queues on the
    head row until the first commits; with shards it appends at once."""
    settings.PROCEDO_AUDIT_CHAIN_SHARDS = shards
    tenant = make_tenant()
    holding, release = threading.Event(), threading.Event()
    writer = threading.Thread(target=_hold_a_head, args=(tenant, 0, holding, release))
    writer.start()
    try:
        assert holding.wait(10)

        def read():
            return audit_record(tenant=tenant, actor=None, action="read", object_type="case_list", object_id="*")

        if waits:
            with pytest.raises(OperationalError, match="lock timeout"):
                _write_with_lock_timeout(read)
        else:
            event = _write_with_lock_timeout(read)
            assert event.chain_key != chain_key_for(tenant, 0)
            # and a case in another shard does not wait either
            assert _write_with_lock_timeout(lambda: _case_event(tenant, 1)).chain_key == chain_key_for(tenant, 1)
    finally:
        release.set()
        writer.join(30)
    assert verify_chain(tenant=tenant).ok


def test_a_tenant_whose_heads_are_all_busy_still_gets_its_event_written():
    tenant = make_tenant()
    releases, threads = [], []
    for case_id in range(SHARDS):
        holding, release = threading.Event(), threading.Event()
        thread = threading.Thread(target=_hold_a_head, args=(tenant, case_id, holding, release))
        thread.start()
        assert holding.wait(10)
        releases.append(release)
        threads.append(thread)
    done: list[AuditEvent] = []
    reader = threading.Thread(target=lambda: (done.append(audit_record(
        tenant=tenant, actor=None, action="read", object_type="case_list", object_id="*")), connection.close()))
    reader.start()
    reader.join(0.5)
    assert not done  # every head is held: it waits for one...
    for release in releases:
        release.set()
    reader.join(30)
    for thread in threads:
        thread.join(30)
    assert len(done) == 1  # ...and is written once one is free
    report = verify_chain(tenant=tenant)
    assert report.ok and report.checked == SHARDS + 1


@pytest.mark.parametrize("shard", range(SHARDS))
def test_verify_finds_a_deleted_event_in_any_shard(shard):
    tenant = make_tenant()
    events = _spread(tenant)
    victim = events[shard or SHARDS][1]  # case 4 lives in shard 0
    assert victim.chain_key == chain_key_for(tenant, shard)
    _tamper("DELETE FROM audit_auditevent WHERE id = %s", [victim.pk])
    report = verify_chain(tenant=tenant)
    assert not report.ok and report.problems[0].chain_key == victim.chain_key and "gap" in report.reason


def test_verify_finds_a_cut_tail_and_a_missing_shard_below_their_seals(capsys):
    tenant = make_tenant()
    events = _spread(tenant)
    seals = audit_seal_chains()
    assert sorted(s.chain_key for s in seals) == sorted(chain_key_for(tenant, s) for s in range(SHARDS))
    assert verify_chain(tenant=tenant).ok
    # tail of shard 2 cut (head rewound to match), shard 3 wiped out with its head
    tail = events[2]
    _tamper("DELETE FROM audit_auditevent WHERE id = %s", [tail[-1].pk])
    _tamper("UPDATE audit_auditchainhead SET last_seq = last_seq - 1, last_hash = %s WHERE chain_key = %s",
            [tail[-2].hash, tail[-1].chain_key])
    gone = chain_key_for(tenant, 3)
    _tamper("DELETE FROM audit_auditevent WHERE chain_key = %s", [gone])
    _tamper("DELETE FROM audit_auditchainhead WHERE chain_key = %s", [gone])
    report = verify_chain(tenant=tenant)
    found = {p.chain_key: p.reason for p in report.problems}
    assert set(found) == {tail[-1].chain_key, gone}
    assert "events deleted at the end" in found[tail[-1].chain_key]
    assert found[gone].startswith("the chain is missing entirely but was sealed at seq 3")
    with pytest.raises(SystemExit):
        call_command("verify_audit", "--tenant", tenant.istat_code)
    err = capsys.readouterr().err
    assert f"catena {gone}: the chain is missing entirely" in err


def test_chains_written_before_sharding_continue_as_shard_zero(settings):
    tenant = make_tenant()
    settings.PROCEDO_AUDIT_CHAIN_SHARDS = 1
    before = [_case_event(tenant, c) for c in (1, 2, 3)]
    assert {e.chain_key for e in before} == {str(tenant.pk)}
    settings.PROCEDO_AUDIT_CHAIN_SHARDS = SHARDS
    after = _case_event(tenant, 4)  # case 4: shard 0, the old chain
    assert after.chain_key == str(tenant.pk) and after.seq == 4 and after.prev_hash == before[-1].hash
    assert verify_chain(tenant=tenant).ok


def test_the_database_hashes_any_content_exactly_as_verify_does():
    """PostgreSQL computes the hash of each appended event (one round trip per append); whatever the
    content (quotes, backslashes, accents, emoji, text that looks like the statement's own markers),
    verify_chain recomputes the same hash in Python."""
    tenant = make_tenant()
    tricky = ['"; DROP TABLE x; --', "C:\\percorso\\file", "Perché è già così — città 🏛️", '@@seq-0000@@ "@@prev_hash@@"',
              "%s %(name)s {0}", "riga\nnuova\ttab"]
    events = [audit_record(tenant=tenant, actor=None, action="update", object_type="case", object_id=str(i),
                           summary=text, object_repr=text[:50], after={"v": text, "n": [1, 2.5, None, True]},
                           extra={text: text}) for i, text in enumerate(tricky)]
    stored = AuditEvent.objects.filter(pk__in=[e.pk for e in events])
    assert {e.summary for e in stored} == set(tricky)
    report = verify_chain(tenant=tenant)
    assert report.ok and report.checked == len(tricky)


def test_a_new_tenant_gets_every_chain_head_with_it():
    # Created with the tenant, no later transaction has to create a head while holding other locks
    # (behind a transaction pooler that would need a second server connection: tests/deploy/test_pgbouncer.py).
    from audit.models import AuditChainHead

    tenant = make_tenant()
    keys = set(AuditChainHead.objects.filter(chain_key__in=[chain_key_for(tenant, k) for k in range(4)])
               .values_list("chain_key", flat=True))
    assert keys == {chain_key_for(tenant, k) for k in range(4)}
