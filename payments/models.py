"""Refunds of pagoPA payments the municipality must give back (the payments page's own table)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from accounts.models import TenantScopedModel


class RefundStatus(models.TextChoices):
    REQUESTED = "requested", _("Da approvare")
    APPROVED = "approved", _("Approvato: da bonificare")
    REJECTED = "rejected", _("Respinto")
    PAID = "paid", _("Rimborsato")


class Refund(TenantScopedModel):
    """Giving back a payment the case can no longer use (paid after the case ended).

    pagoPA (GPD) has no refund operation: the municipality's treasury pays it back by bank
    transfer to the payer's IBAN. Four eyes: one officer proposes it, a supervisor who is not that
    officer approves it; the transfer's reference (CRO/TRN) is recorded when it is made. At most one
    refund that is not rejected per position (a payment is given back once)."""

    position = models.ForeignKey("connectors.DebtPosition", on_delete=models.PROTECT, related_name="refunds")
    amount_cents = models.PositiveBigIntegerField()
    reason = models.CharField(max_length=1000)
    payee_iban = models.CharField(max_length=34)
    status = models.CharField(max_length=12, choices=RefundStatus.choices, default=RefundStatus.REQUESTED)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    requested_at = models.DateTimeField()
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+",
                                   null=True, blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_note = models.CharField(max_length=1000, blank=True)
    transfer_reference = models.CharField(max_length=60, blank=True)
    paid_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("rimborso")
        verbose_name_plural = _("rimborsi")
        constraints = [
            models.UniqueConstraint(fields=["position"], condition=~models.Q(status="rejected"),
                                    name="refund_one_live_per_position"),
        ]
