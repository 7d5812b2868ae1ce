"""The notice board's rules: register numbers, publication windows, privacy, withdrawal, audit."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from django.db import connection
from django.utils import timezone

from audit.models import AuditEvent
from common import clock
from common.errors import Conflict, PermissionRefused, ValidationFailed
from documents import storage
from documents.verify import verify_pdf
from noticeboard import selectors, services
from noticeboard.models import Publication, Status
from tests.factories import make_user

pytestmark = pytest.mark.django_db

MONDAY = timezone.make_aware(dt.datetime(2026, 12, 7, 9, 0))


def publish(board, document, *, tenant=None, actor=None, **overrides):
    fields = {"title": "Pubblicazione di matrimonio tra Mario Rossi e Anna Bianchi", "body": "",
              "category": "pubblicazioni_matrimonio", "days": services.BANNS_DAYS,
              "office": "Ufficio di stato civile", "responsible": "Laura Verdi", **overrides}
    return services.publication_create(tenant=tenant or board["a"], actor=actor or board["registrar"],
                                       document=document, **fields)


def test_banns_stay_eight_consecutive_days_and_leave_the_current_list_after_the_last(board, signed_document):
    clock.freeze(MONDAY)
    publication = publish(board, signed_document())
    assert (publication.start_date, publication.end_date) == (dt.date(2026, 12, 7), dt.date(2026, 12, 14))
    assert publication.register_number == "1/2026" and publication.status == Status.PUBLISHED

    clock.advance(dt.timedelta(days=7))  # the eighth day: still on the board
    assert list(selectors.publication_public_current(tenant=board["a"])) == [publication]
    clock.advance(dt.timedelta(days=1))  # the day after: gone from the current list, no job needed
    assert list(selectors.publication_public_current(tenant=board["a"])) == []
    assert list(selectors.publication_public_archive(tenant=board["a"])) == [publication]
    assert Publication.objects.get(pk=publication.pk).status == Status.EXPIRED
    clock.advance(dt.timedelta(days=30))  # the archive period (30 days in these tests) ends
    assert list(selectors.publication_public_archive(tenant=board["a"])) == []
    with pytest.raises(Exception, match="not public"):
        selectors.publication_public_get(tenant=board["a"], year=2026, number=1)
    assert Publication.objects.filter(pk=publication.pk).exists()  # kept in the register


def test_a_scheduled_publication_is_not_public_before_its_start(board, signed_document):
    clock.freeze(MONDAY)
    publication = publish(board, signed_document(), start_date=dt.date(2026, 12, 10), days=15)
    assert publication.end_date == dt.date(2026, 12, 24) and publication.status == Status.SCHEDULED
    assert list(selectors.publication_public_current(tenant=board["a"])) == []
    clock.advance(dt.timedelta(days=3))
    assert list(selectors.publication_public_current(tenant=board["a"])) == [publication]


def test_numbers_run_per_tenant_and_start_again_each_year(board, signed_document):
    clock.freeze(timezone.make_aware(dt.datetime(2026, 12, 31, 10, 0)))
    first = publish(board, signed_document())
    second = publish(board, signed_document())
    other = publish(board, signed_document(board["b"], board["b_registrar"]), tenant=board["b"],
                    actor=board["b_registrar"])
    clock.advance(dt.timedelta(days=1))
    next_year = publish(board, signed_document())
    assert [first.register_number, second.register_number, other.register_number, next_year.register_number] == [
        "1/2026", "2/2026", "1/2026", "1/2027"]


def test_a_refused_publication_does_not_use_up_a_number(board, signed_document):
    document = signed_document()
    with pytest.raises(ValidationFailed):
        publish(board, document, days=0)
    assert publish(board, document).number == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_publications_get_distinct_gap_free_numbers(board, signed_document):
    documents = [signed_document() for _ in range(12)]
    barrier = threading.Barrier(len(documents))
    numbers: list[int] = []
    errors: list[BaseException] = []

    def post(document):
        try:
            barrier.wait(timeout=20)
            numbers.append(publish(board, document).number)
        except BaseException as exc:  # surfaced below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=post, args=(d,)) for d in documents]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    assert sorted(numbers) == list(range(1, 13))
    assert sorted(Publication.objects.filter(tenant=board["a"]).values_list("number", flat=True)) == list(range(1, 13))


@pytest.mark.parametrize("field,text", [
    ("body", "Si rende noto che Mario Rossi (C.F. RSSMRA80A01H501U) e Anna Bianchi intendono sposarsi."),
    ("title", "Matrimonio rssmra80a01h501u"),
    ("body", "codice fiscale RSS MRA 80A01 H501U"),
    ("body", "omocodia: RSSMRA8LA01H5M1U"),
])
def test_a_text_with_a_fiscal_code_is_refused_in_italian(board, signed_document, field, text):
    with pytest.raises(ValidationFailed) as refused:
        publish(board, signed_document(), **{field: text})
    assert "codice fiscale" in refused.value.message
    assert field in refused.value.details
    assert not Publication.objects.exists()


def test_only_a_signed_pdf_of_the_same_tenant_may_be_published(board, signed_document):
    foreign = signed_document(board["b"], board["b_registrar"])
    with pytest.raises(ValidationFailed) as refused:
        publish(board, foreign)
    assert "document" in refused.value.details
    unsigned = signed_document()
    unsigned.signed = False
    unsigned.save(update_fields=["signed"])
    with pytest.raises(ValidationFailed, match="firmato"):
        publish(board, unsigned)


def test_a_past_start_is_refused(board, signed_document):
    clock.freeze(MONDAY)
    with pytest.raises(ValidationFailed) as refused:
        publish(board, signed_document(), start_date=dt.date(2026, 12, 6))
    assert "start_date" in refused.value.details


def test_staff_without_a_registry_role_cannot_publish_or_withdraw(board, signed_document):
    document = signed_document()
    with pytest.raises(PermissionRefused):
        publish(board, document, actor=board["viewer"])
    publication = publish(board, document)
    with pytest.raises(PermissionRefused):
        services.publication_withdraw(publication=publication, actor=board["viewer"], reason="errore")
    with pytest.raises(PermissionRefused):  # a registrar of another municipality
        services.publication_withdraw(publication=publication, actor=board["b_registrar"], reason="errore")


def test_withdrawal_keeps_the_record_states_the_reason_and_is_audited(board, signed_document):
    clock.freeze(MONDAY)
    publication = publish(board, signed_document())
    with pytest.raises(ValidationFailed):
        services.publication_withdraw(publication=publication, actor=board["supervisor"], reason="  ")
    withdrawn = services.publication_withdraw(publication=publication, actor=board["supervisor"],
                                              reason="Errore materiale nelle generalità")
    assert withdrawn.status == Status.WITHDRAWN and withdrawn.withdrawal_reason == "Errore materiale nelle generalità"
    assert list(selectors.publication_public_current(tenant=board["a"])) == [withdrawn]  # shown as annullata
    with pytest.raises(Conflict):
        services.publication_withdraw(publication=publication, actor=board["supervisor"], reason="ancora")
    events = AuditEvent.objects.filter(object_type="publication", object_id=str(publication.pk)).order_by("seq")
    assert [(e.action, e.actor_id) for e in events] == [("create", board["registrar"].pk),
                                                         ("update", board["supervisor"].pk)]
    assert events[1].after == {"withdrawn": True, "reason": "Errore materiale nelle generalità"}


def test_the_same_idempotency_key_gives_back_the_first_publication(board, signed_document):
    document = signed_document()
    first = publish(board, document, idempotency_key="k-1")
    assert publish(board, document, idempotency_key="k-1").pk == first.pk
    assert Publication.objects.count() == 1


def test_an_uploaded_pdf_is_sealed_and_a_non_pdf_is_refused(board):
    from documents.errors import FileRejected
    from tests.documents.pdfs import PNG_1PX, pdf_with_javascript
    from tests.noticeboard.conftest import blank_pdf

    document = services.publication_document_upload(tenant=board["a"], actor=board["registrar"], data=blank_pdf(),
                                                    filename="../../atto.pdf")
    [report] = verify_pdf(storage.get(document.sha256))
    assert report.intact and report.valid and document.signed and document.filename == "atto.pdf"
    for bad in (PNG_1PX, pdf_with_javascript()):
        with pytest.raises(FileRejected):
            services.publication_document_upload(tenant=board["a"], actor=board["registrar"], data=bad,
                                                 filename="x.pdf")
    with pytest.raises(PermissionRefused):
        services.publication_document_upload(tenant=board["a"], actor=make_user(board["a"]), data=blank_pdf(),
                                             filename="x.pdf")
