"""Per-tenant connector configuration: where each platform is and with which credentials."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from accounts.models import TenantScopedModel


class ConnectorConfig(TenantScopedModel):
    """One platform's endpoint and credentials for one municipality.

    `credentials` holds what the platform needs (API key, PARER user, PDND
    client id and key id...). An empty `base_url` means "use the environment or
    the demo simulator" (see connectors.base.config).
    """

    platform = models.CharField(_("piattaforma"), max_length=40)
    base_url = models.URLField(_("indirizzo base"), max_length=500, blank=True)
    credentials = models.JSONField(_("credenziali"), default=dict, blank=True)
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
