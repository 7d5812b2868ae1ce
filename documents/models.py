from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from accounts.models import TenantScopedModel


class DocumentType(TenantScopedModel):
    """Kinds of document a tenant files in dossiers; editable by the tenant's admins."""

    code = models.SlugField(max_length=50)
    name = models.CharField(_("nome"), max_length=200)
    is_active = models.BooleanField(default=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant", "code"], name="document_type_unique_code")]
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Document(TenantScopedModel):
    """An issued or filed document. Its bytes live in content-addressed storage and
    never change; a correction is a new document that supersedes this one."""

    kind = models.SlugField(max_length=50)  # DocumentType.code
    title = models.CharField(max_length=300, blank=True)
    sha256 = models.CharField(max_length=64, db_index=True)
    filename = models.CharField(max_length=255)
    mime = models.CharField(max_length=100)
    size = models.PositiveBigIntegerField()
    signed = models.BooleanField(default=False)
    signature_level = models.CharField(max_length=10, blank=True)  # PAdES B-B, B-T, B-LT
    signer = models.CharField(max_length=300, blank=True)
    verification_code = models.CharField(max_length=40, unique=True, null=True, blank=True)
    case = models.ForeignKey("cases.Case", null=True, blank=True, on_delete=models.PROTECT, related_name="documents")
    # NULL, not "": uploads have no key and must not collide on the unique constraint
    idempotency_key = models.CharField(max_length=200, null=True, blank=True)  # noqa: DJ001
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_reason = models.CharField(max_length=300, blank=True)
    superseded_by = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField()
    # Long-term preservation (PARER): outcome of the deposit of this document's SIP.
    preservation_status = models.CharField(max_length=20, blank=True)  # POSITIVO | WARNING
    preservation_urn = models.CharField(max_length=500, blank=True)
    preserved_at = models.DateTimeField(null=True, blank=True)
    # Registry protocol (art. 53 DPR 445/2000): the number and date the municipality's protocol gave
    # this document (incoming declaration or outgoing deed); copied on its dossier entries.
    protocol_direction = models.CharField(max_length=3, blank=True)  # in | out
    protocol_number = models.CharField(max_length=50, blank=True)
    protocol_date = models.DateField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "idempotency_key"], name="document_unique_idempotency"),
        ]
        indexes = [models.Index(fields=["tenant", "case"])]
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.kind} {self.sha256[:12]}"


class Origin(models.TextChoices):
    OFFICE = "office", _("Ufficio")
    CITIZEN = "citizen", _("Cittadino")
    OTHER_BODY = "other_body", _("Altro ente")


class DossierEntry(TenantScopedModel):
    """A document in a person's digital dossier (fascicolo), within one tenant."""

    fiscal_code = models.CharField(max_length=16)
    document = models.ForeignKey(Document, on_delete=models.PROTECT, related_name="dossier_entries")
    document_type = models.SlugField(max_length=50)
    date = models.DateField()
    protocol_number = models.CharField(max_length=50, blank=True)
    protocol_date = models.DateField(null=True, blank=True)
    origin = models.CharField(max_length=20, choices=Origin.choices, default=Origin.OFFICE)
    case = models.ForeignKey("cases.Case", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["document", "fiscal_code"], name="dossier_entry_unique_document"),
        ]
        indexes = [models.Index(fields=["tenant", "fiscal_code", "date"])]
        ordering = ["-date", "-id"]


class TenantTemplate(TenantScopedModel):
    """A municipality's own version of a shipped deed or letter template (same name, same data).

    Every upload is a new version; exactly one version per name is active, or none (the shipped
    template is used). Older versions are kept and can be made active again.
    """

    name = models.SlugField(max_length=100)
    version = models.PositiveIntegerField()
    sha256 = models.CharField(max_length=64)  # content in documents.storage
    filename = models.CharField(max_length=255)
    is_active = models.BooleanField(default=False)
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    uploaded_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "name", "version"], name="tenant_template_unique_version"),
            models.UniqueConstraint(fields=["tenant", "name"], condition=models.Q(is_active=True),
                                    name="tenant_template_one_active"),
        ]
        ordering = ["name", "-version"]

    def __str__(self) -> str:
        return f"{self.name} v{self.version}"
