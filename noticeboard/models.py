"""The online notice board (albo pretorio online, art. 32 L. 69/2009) of each tenant.

A publication is never deleted: it stays in the register after its end date (archive) and when
it is withdrawn (annullata). Whether it is visible to the public is decided by its dates against
the clock at query time (selectors), not by a status column that a job would have to keep true.
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from accounts.models import Tenant, TenantScopedModel


class Category(models.TextChoices):
    MARRIAGE_BANNS = "pubblicazioni_matrimonio", _("Pubblicazioni di matrimonio")
    RESOLUTION = "delibera", _("Deliberazioni")
    DETERMINATION = "determina", _("Determinazioni")
    ORDINANCE = "ordinanza", _("Ordinanze e decreti")
    NOTICE = "avviso", _("Avvisi")
    TENDER = "bando", _("Bandi e concorsi")
    OTHER = "altro", _("Altri atti")


class Status(models.TextChoices):
    SCHEDULED = "scheduled", _("programmata")
    PUBLISHED = "published", _("in pubblicazione")
    EXPIRED = "expired", _("pubblicazione conclusa")
    WITHDRAWN = "withdrawn", _("annullata")


class PublicationCounter(models.Model):
    """Last register number handed out per tenant and year (one row each, locked by the UPDATE
    that takes the next number, so numbers are gap-free: a rolled-back publication returns it)."""

    tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, related_name="+")
    year = models.PositiveIntegerField()
    last_number = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant", "year"], name="noticeboard_counter_unique_year")]

    def __str__(self) -> str:
        return f"{self.tenant_id}/{self.year}: {self.last_number}"


class Publication(TenantScopedModel):
    year = models.PositiveIntegerField(_("anno del registro"))
    number = models.PositiveIntegerField(_("numero del registro"))
    title = models.CharField(_("oggetto"), max_length=300)
    body = models.TextField(_("testo"), blank=True)
    category = models.CharField(_("categoria"), max_length=40, choices=Category.choices)
    document = models.ForeignKey("documents.Document", on_delete=models.PROTECT, related_name="+")
    # Inclusive: a publication "for 8 consecutive days" from 1 December ends on 8 December.
    start_date = models.DateField(_("inizio pubblicazione"))
    end_date = models.DateField(_("fine pubblicazione"))
    days = models.PositiveSmallIntegerField(_("giorni di pubblicazione"))
    office = models.CharField(_("ufficio"), max_length=200)
    responsible = models.CharField(_("responsabile"), max_length=200)
    case = models.ForeignKey("cases.Case", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    # NULL, not "": publications made from the office pages carry no key
    idempotency_key = models.CharField(max_length=200, null=True, blank=True)  # noqa: DJ001
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField()
    withdrawn_at = models.DateTimeField(null=True, blank=True)
    withdrawal_reason = models.CharField(_("motivo dell'annullamento"), max_length=500, blank=True)
    withdrawn_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                     related_name="+")
    # The publication report (referto di pubblicazione), signed once the publication has ended.
    report_document = models.ForeignKey("documents.Document", null=True, blank=True, on_delete=models.PROTECT,
                                        related_name="+")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "year", "number"], name="noticeboard_unique_number"),
            models.UniqueConstraint(fields=["tenant", "idempotency_key"], name="noticeboard_unique_idempotency"),
            models.CheckConstraint(condition=models.Q(end_date__gte=models.F("start_date")),
                                   name="noticeboard_end_after_start"),
        ]
        indexes = [models.Index(fields=["tenant", "end_date", "start_date"])]
        ordering = ["-year", "-number"]

    def __str__(self) -> str:
        return f"{self.register_number} {self.title}"

    @property
    def register_number(self) -> str:
        return f"{self.number}/{self.year}"

    def status_on(self, day: dt.date) -> str:
        if self.withdrawn_at is not None:
            return Status.WITHDRAWN
        if day < self.start_date:
            return Status.SCHEDULED
        if day > self.end_date:
            return Status.EXPIRED
        return Status.PUBLISHED

    @property
    def status(self) -> str:
        from common import clock

        return self.status_on(clock.today())

    @property
    def status_label(self) -> str:
        return str(Status(self.status).label)


class NoticeboardSettings(models.Model):
    """A tenant's choices for its notice board."""

    tenant = models.OneToOneField(Tenant, on_delete=models.CASCADE, related_name="+")
    # Days after the end date during which a publication stays in the public archive; NULL = the
    # platform default (PROCEDO_NOTICEBOARD_ARCHIVE_DAYS).
    archive_days = models.PositiveIntegerField(_("giorni di consultazione dell'archivio"), null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.tenant_id}: {self.archive_days}"
