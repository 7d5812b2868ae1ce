"""pagoPA's own table: the debt positions we created on GPD (app label `connectors`)."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from accounts.models import TenantScopedModel


class DebtPosition(TenantScopedModel):
    """A pagoPA debt position we created (GPD), one per operation idempotency key.

    The row exists before the platform call, so its id gives the IUV base and a
    retry reuses the same IUV: the citizen never receives two notices.
    """

    idempotency_key = models.CharField(max_length=200)
    case_id = models.BigIntegerField(null=True, blank=True)
    case_number = models.CharField(max_length=60, blank=True)
    iupd = models.CharField(max_length=60)
    iuv = models.CharField(max_length=17)
    notice_number = models.CharField(_("numero avviso"), max_length=18)
    organization_fiscal_code = models.CharField(max_length=16)
    amount_cents = models.PositiveBigIntegerField()
    description = models.CharField(max_length=140)
    debtor_fiscal_code = models.CharField(max_length=16)
    debtor_name = models.CharField(max_length=140, blank=True)
    kind = models.CharField(max_length=20, default="fee")  # fee | stamp_duty
    status = models.CharField(max_length=20, default="NEW")  # NEW, then GPD's own statuses
    due_date = models.DateField(_("scadenza"), null=True, blank=True)  # the payment option's dueDate
    # Marca da bollo digitale: base64 SHA-256 of the stamped document, as sent in the GPD `stamp`.
    document_hash = models.CharField(max_length=72, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    paid_at = models.DateTimeField(null=True, blank=True)
    # The receipt as GPD reports it on the paid payment option.
    receipt_id = models.CharField(max_length=64, blank=True)
    psp_name = models.CharField(max_length=140, blank=True)
    payment_method = models.CharField(max_length=40, blank=True)
    # Set when the engine has delivered "payment received" to the case (at-least-once).
    paid_delivered_at = models.DateTimeField(null=True, blank=True)
    # Paid, but its case had already ended (cancelled, lapsed): never delivered, listed for the
    # office to check (refund or a new request) on the payments page.
    unmatched_at = models.DateTimeField(null=True, blank=True)
    # Invalidated on GPD (the case ended before payment): nobody can pay it any more.
    invalidated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("posizione debitoria")
        verbose_name_plural = _("posizioni debitorie")
        constraints = [
            models.UniqueConstraint(fields=["tenant", "idempotency_key"], name="debt_position_unique_key"),
            models.UniqueConstraint(fields=["organization_fiscal_code", "iuv"], name="debt_position_unique_iuv"),
        ]
        indexes = [models.Index(fields=["status", "paid_delivered_at"], name="debt_position_pending_idx")]
