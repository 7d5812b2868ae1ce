"""The tenant's service-level terms for malfunction tickets (issue 12): levels, times, service
hours, closing days and penalties. Data, not code: a tender fixes them, another customer sets
tighter ones. A ticket copies the terms in force when it is reported (support.sla_terms)."""

from django.db import models
from django.utils.translation import gettext_lazy as _

from accounts.models import Tenant


class SupportTerms(models.Model):
    tenant = models.OneToOneField(Tenant, on_delete=models.CASCADE, related_name="support_terms")
    # engine.business_hours calendar: weekdays, start, end, holidays, national_holidays, patron_day
    calendar = models.JSONField(_("orario di servizio"), default=dict)
    # {"4": {"label", "target": {"hours": 2}, "penalty_fixed": "100.00", "penalty_per_hour": "50.00"}, ...}
    levels = models.JSONField(_("livelli di servizio"), default=dict)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("termini di assistenza")

    def __str__(self) -> str:
        return f"SLA {self.tenant_id}"
