"""Connector tables shared by every platform: per-tenant configuration and remembered results.

A table only one platform uses lives in that platform's package (`connectors/<platform>/models.py`)
and is imported here, so that it keeps the `connectors` app label and its table name.
"""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from accounts.models import TenantScopedModel
from common.secrets import EncryptedJSONField

from .pagopa.models import DebtPosition

__all__ = ["ConnectorConfig", "DebtPosition", "OperationResult"]


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
