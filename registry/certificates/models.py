"""Certificates issued from the register, and the converted layouts they are filled into.

Imported by registry/models.py (one line at its end) so that Django finds them in the registry app.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from accounts.models import TenantScopedModel


class StampMode(models.TextChoices):
    EXEMPT = "exempt", _("Esente")
    PHYSICAL = "physical", _("Contrassegno (marca da bollo)")
    VIRTUAL = "virtual", _("Bollo assolto in modo virtuale")
    # paid through pagoPA in the citizen area (portal/): stamp_id is the notice number
    PAGOPA = "pagopa", _("Bollo pagato con pagoPA")


class CertificateBase(TenantScopedModel):
    """A certificate layout converted once to PDF/A and prepared for overlays, per tenant and
    template version (`key`: layout, tenant name and coat of arms). The bytes are in documents.storage."""

    kind = models.SlugField(max_length=50)
    key = models.CharField(max_length=64)
    sha256 = models.CharField(max_length=64)
    created_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant", "kind", "key"], name="registry_certbase_unique_key")]


class Certificate(TenantScopedModel):
    """One issued copy of a certificate: its own signed PDF, verification code and stamp."""

    request_id = models.UUIDField(db_index=True)  # the copies issued together share it
    person = models.ForeignKey("registry.Person", on_delete=models.PROTECT, related_name="certificates")
    kind = models.SlugField(max_length=50)  # registry.certificates.catalogue
    copy_number = models.PositiveSmallIntegerField(default=1)
    copies = models.PositiveSmallIntegerField(default=1)
    use_code = models.PositiveSmallIntegerField(null=True, blank=True)  # ANPR Esenzione bollo; NULL: duty paid
    use_note = models.CharField(max_length=200, blank=True)  # "altro motivo di esenzione": the reason
    stamp_mode = models.CharField(max_length=20, choices=StampMode.choices)
    stamp_id = models.CharField(max_length=60, blank=True)  # contrassegno number or virtual authorisation
    document = models.OneToOneField("documents.Document", on_delete=models.PROTECT, related_name="certificate")
    issued_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    issued_at = models.DateTimeField()

    class Meta:
        constraints = [
            # a physical stamp (contrassegno) pays for one copy only, once
            models.UniqueConstraint(fields=["tenant", "stamp_id"], condition=Q(stamp_mode="physical"),
                                    name="registry_certificate_stamp_used_once"),
            models.CheckConstraint(condition=Q(stamp_mode="exempt", use_code__isnull=False, stamp_id="")
                                   | ~Q(stamp_mode="exempt") & Q(use_code__isnull=True) & ~Q(stamp_id=""),
                                   name="registry_certificate_stamp_or_exemption"),
        ]
        indexes = [models.Index(fields=["tenant", "person", "issued_at"])]
        ordering = ["-issued_at", "-id"]


class CounterPaymentStatus(models.TextChoices):
    AWAITING_PAYMENT = "awaiting_payment", _("In attesa del pagamento del bollo")
    ISSUED = "issued", _("Rilasciato")


class CounterStampPayment(TenantScopedModel):
    """A certificate asked at the counter whose stamp duty the citizen pays through pagoPA: the
    pagoPA position (one notice, 16 euro per copy) is created first and the certificate is issued
    only once pagoPA says it is paid (by the operator's check or by the beat job). `request_id` is
    the certificate request's id, so the copies issued carry it and the payment pays them only."""

    request_id = models.UUIDField()  # unique per tenant: another municipality's ids never collide with ours
    person = models.ForeignKey("registry.Person", on_delete=models.PROTECT, related_name="+")
    kind = models.SlugField(max_length=50)
    copies = models.PositiveSmallIntegerField(default=1)
    position = models.OneToOneField("connectors.DebtPosition", on_delete=models.PROTECT, related_name="+")
    payer_fiscal_code = models.CharField(max_length=16)
    payer_name = models.CharField(max_length=140)
    status = models.CharField(max_length=20, choices=CounterPaymentStatus.choices,
                              default=CounterPaymentStatus.AWAITING_PAYMENT)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField()
    issued_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["status"], name="registry_counterpay_open_idx",
                                condition=Q(status="awaiting_payment"))]
        constraints = [models.UniqueConstraint(fields=["tenant", "request_id"],
                                               name="registry_counterpay_unique_request")]
        ordering = ["-created_at", "-id"]
