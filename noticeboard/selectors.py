"""Reads of the online notice board. Public visibility is decided here, by dates against the
clock, in the query itself: a publication leaves the current list the day after its end date
whether or not any job has run."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db.models import Q, QuerySet

from accounts.models import Tenant
from common import clock
from common.errors import NotFound

from .models import Category, Publication
from .services import archive_days


@dataclass(frozen=True)
class Search:
    text: str = ""
    category: str = ""
    date_from: dt.date | None = None
    date_to: dt.date | None = None

    @property
    def active(self) -> bool:
        return bool(self.text or self.category or self.date_from or self.date_to)


def public_tenant_get(*, slug: str) -> Tenant:
    tenant = Tenant.objects.defer("coat_of_arms").filter(slug=slug, is_active=True).first()
    if tenant is None:
        raise NotFound("unknown notice board")
    return tenant


def _searched(qs: QuerySet[Publication], search: Search) -> QuerySet[Publication]:
    if search.text:
        qs = qs.filter(Q(title__icontains=search.text) | Q(body__icontains=search.text))
    if search.category in Category.values:
        qs = qs.filter(category=search.category)
    # a date range finds the publications that were on the board on some day of it
    if search.date_from:
        qs = qs.filter(end_date__gte=search.date_from)
    if search.date_to:
        qs = qs.filter(start_date__lte=search.date_to)
    return qs


def _public(tenant: Tenant) -> QuerySet[Publication]:
    return Publication.objects.filter(tenant=tenant).select_related("document")


def publication_public_current(*, tenant: Tenant, search: Search = Search()) -> QuerySet[Publication]:
    """On the board today (withdrawn ones stay listed, marked annullata, until their end date)."""
    today = clock.today()
    return _searched(_public(tenant).filter(start_date__lte=today, end_date__gte=today), search).order_by(
        "-start_date", "-year", "-number")


def archive_start(tenant: Tenant) -> dt.date:
    return clock.today() - dt.timedelta(days=archive_days(tenant))


def publication_public_archive(*, tenant: Tenant, search: Search = Search()) -> QuerySet[Publication]:
    """Ended, still within the tenant's archive period."""
    today = clock.today()
    return _searched(_public(tenant).filter(end_date__lt=today, end_date__gte=archive_start(tenant)),
                     search).order_by("-end_date", "-year", "-number")


def publication_public_get(*, tenant: Tenant, year: int, number: int) -> Publication:
    """A publication the public may see: current, or ended within the archive period."""
    today = clock.today()
    publication = (_public(tenant).select_related("report_document")
                   .filter(year=year, number=number, start_date__lte=today, end_date__gte=archive_start(tenant))
                   .first())
    if publication is None:
        raise NotFound("publication not public")
    return publication


def publication_list_for_office(*, tenant: Tenant, search: Search = Search()) -> QuerySet[Publication]:
    return _searched(Publication.objects.filter(tenant=tenant).select_related("document", "case"), search)


def publication_get_for_office(*, tenant: Tenant, pk: int) -> Publication:
    publication = (Publication.objects.filter(tenant=tenant, pk=pk)
                   .select_related("document", "case", "report_document", "created_by", "withdrawn_by").first())
    if publication is None:
        raise NotFound("publication not found")
    return publication


def case_documents_for_publication(*, tenant: Tenant, case_number: str):
    """The signed PDFs of a case (by its number) that the office may publish."""
    from documents.models import Document

    return (Document.objects.filter(tenant=tenant, case__number=case_number.strip(), signed=True,
                                    mime="application/pdf", revoked_at__isnull=True)
            .select_related("case").order_by("-created_at")[:50])
