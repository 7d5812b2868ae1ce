"""The citizen area's own rows: preferences, drafts, submissions, replies, online certificate
requests and the milestone notifications sent. Cases, documents and payments stay in their apps."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from accounts.models import TenantScopedModel


class CitizenProfile(TenantScopedModel):
    """A citizen's preferences in one municipality, linked to the register's person when one exists."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    person = models.ForeignKey("registry.Person", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    io_opt_in = models.BooleanField(_("messaggi su App IO"), default=False)
    email_opt_in = models.BooleanField(_("messaggi per email"), default=False)
    email = models.EmailField(_("email"), blank=True)
    updated_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant", "user"], name="portal_profile_unique_user")]


class SubmissionDraft(TenantScopedModel):
    """An online form being filled: one per citizen and procedure, kept at least a year
    (PROCEDO_PORTAL_DRAFT_DAYS after its last change, then purged)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    process_id = models.CharField(max_length=100)
    data = models.JSONField(default=dict)
    # [{"document_id", "name", "label", "size", "media_type"}]: files uploaded, not yet tied to a case
    attachments = models.JSONField(default=list)
    step = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant", "user", "process_id"], name="portal_draft_unique")]


class ProtocolStatus(models.TextChoices):
    PENDING = "pending", _("In attesa di protocollo")
    DONE = "done", _("Protocollata")


class Submission(TenantScopedModel):
    """A request filed online: the case it opened, its protocol registration and its receipt."""

    case = models.OneToOneField("cases.Case", on_delete=models.PROTECT, related_name="portal_submission")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    submitted_at = models.DateTimeField()
    application = models.ForeignKey("documents.Document", null=True, blank=True, on_delete=models.PROTECT,
                                    related_name="+")  # the request as filed (PDF): the protocol's primary document
    protocol_status = models.CharField(max_length=20, choices=ProtocolStatus.choices, default=ProtocolStatus.PENDING)
    protocol_number = models.CharField(max_length=30, blank=True)
    protocol_date = models.DateField(null=True, blank=True)
    protocol_attempts = models.PositiveSmallIntegerField(default=0)
    protocol_error = models.CharField(max_length=300, blank=True)
    receipt = models.ForeignKey("documents.Document", null=True, blank=True, on_delete=models.PROTECT, related_name="+")

    class Meta:
        indexes = [models.Index(fields=["protocol_status"], name="portal_submission_pending_idx",
                                condition=models.Q(protocol_status="pending"))]


class CaseReply(TenantScopedModel):
    """What a citizen answered to the office (a BPMN message, e.g. the 10-bis observations)."""

    case = models.ForeignKey("cases.Case", on_delete=models.CASCADE, related_name="portal_replies")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    message = models.CharField(max_length=100)
    text = models.TextField()
    attachments = models.JSONField(default=list)  # [{"document_id", "name"}]
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["created_at", "id"]


class CertificateRequestStatus(models.TextChoices):
    AWAITING_PAYMENT = "awaiting_payment", _("In attesa del pagamento del bollo")
    ISSUED = "issued", _("Rilasciato")
    CANCELLED = "cancelled", _("Annullata")


class CertificateRequest(TenantScopedModel):
    """A certificate asked online: issued at once when exempt, after the pagoPA payment of the
    stamp duty otherwise. `request_id` is the certificate service's idempotency key."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    person = models.ForeignKey("registry.Person", on_delete=models.PROTECT, related_name="+")
    kind = models.SlugField(max_length=50)
    for_other = models.BooleanField(default=False)
    purpose = models.CharField(max_length=300, blank=True)  # the use stated for another person's certificate
    use_code = models.PositiveSmallIntegerField(null=True, blank=True)  # exemption; NULL: stamp duty paid
    use_note = models.CharField(max_length=200, blank=True)
    request_id = models.UUIDField(unique=True)
    status = models.CharField(max_length=20, choices=CertificateRequestStatus.choices)
    position = models.ForeignKey("connectors.DebtPosition", null=True, blank=True, on_delete=models.PROTECT,
                                 related_name="+")
    document = models.ForeignKey("documents.Document", null=True, blank=True, on_delete=models.PROTECT,
                                 related_name="+")
    created_at = models.DateTimeField()
    issued_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["tenant", "user", "created_at"])]
        ordering = ["-created_at", "-id"]


class MilestoneNotice(TenantScopedModel):
    """A public milestone of a case told to a citizen (App IO, else email), once."""

    case = models.ForeignKey("cases.Case", on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    element_id = models.CharField(max_length=200)
    channel = models.CharField(max_length=10)  # io | email | none
    sent_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["case", "user", "element_id"], name="portal_notice_once")]
