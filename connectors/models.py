"""Per-tenant connector configuration: where each platform is and with which credentials."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from accounts.models import TenantScopedModel
from common.secrets import EncryptedJSONField


class ConnectorConfig(TenantScopedModel):
    """One platform's endpoint and credentials for one municipality.

    `credentials` holds what the platform needs (API key, PARER user, PDND
    client id, key id and private key...), encrypted at rest (common.secrets). An empty `base_url` means "use the environment or
    the demo simulator" (see connectors.base.config).
    """

    platform = models.CharField(_("piattaforma"), max_length=40)
    base_url = models.URLField(_("indirizzo base"), max_length=500, blank=True)
    credentials = EncryptedJSONField(_("credenziali"), default=dict, blank=True)
    settings = models.JSONField(_("impostazioni"), default=dict, blank=True)
    is_active = models.BooleanField(default=True)

    class Meta:
        verbose_name = _("configurazione connettore")
        verbose_name_plural = _("configurazioni connettori")
        constraints = [
            models.UniqueConstraint(fields=["tenant", "platform"], name="connector_config_unique_per_tenant"),
        ]

    def __str__(self) -> str:
        return f"{self.platform} ({self.tenant_id})"


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
    kind = models.CharField(max_length=20, default="fee")  # fee | stamp_duty
    status = models.CharField(max_length=20, default="NEW")  # NEW, then GPD's own statuses
    created_at = models.DateTimeField(auto_now_add=True)
    paid_at = models.DateTimeField(null=True, blank=True)
    # Set when the engine has delivered "payment received" to the case (at-least-once).
    paid_delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("posizione debitoria")
        verbose_name_plural = _("posizioni debitorie")
        constraints = [
            models.UniqueConstraint(fields=["tenant", "idempotency_key"], name="debt_position_unique_key"),
            models.UniqueConstraint(fields=["organization_fiscal_code", "iuv"], name="debt_position_unique_iuv"),
        ]
        indexes = [models.Index(fields=["status", "paid_delivered_at"], name="debt_position_pending_idx")]


class OperationResult(TenantScopedModel):
    """The result of a completed connector operation, by idempotency key.

    The outbox may deliver an operation twice (a crash after the platform
    answered, before the engine recorded it): the second delivery returns this
    stored result instead of calling the platform again.
    """

    operation = models.CharField(max_length=100)
    idempotency_key = models.CharField(max_length=200)
    result = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("esito operazione")
        verbose_name_plural = _("esiti operazioni")
        constraints = [
            models.UniqueConstraint(fields=["tenant", "operation", "idempotency_key"],
                                    name="operation_result_unique_key"),
        ]
