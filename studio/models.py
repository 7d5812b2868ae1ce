"""Drafts of a tenant's process variants and the requests to publish them (four eyes)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from accounts.models import TenantScopedModel
from engine.models import ProcessDefinition, ProcessVersion


class DraftStatus(models.TextChoices):
    OPEN = "open", _("In lavorazione")
    PUBLISHED = "published", _("Pubblicata")
    DISCARDED = "discarded", _("Scartata")


class Draft(TenantScopedModel):
    """A municipality's working copy of a procedure: every file of the bundle, stored in the database.

    Forked from a version the tenant may see (shipped, or its own variant). `shipped_base` is the
    shipped version underneath: a newer shipped version is "an update" the admin may take, file by
    file. `revision` grows with every change, so a publish request names exactly what was approved.
    """

    definition = models.ForeignKey(ProcessDefinition, on_delete=models.PROTECT, related_name="+")
    base_version = models.ForeignKey(ProcessVersion, on_delete=models.PROTECT, related_name="+")
    shipped_base = models.ForeignKey(ProcessVersion, on_delete=models.PROTECT, related_name="+")
    title = models.CharField(_("titolo"), max_length=200)
    # relative path -> text (binary files as "base64:<data>", as in ProcessVersion.files)
    files = models.JSONField(default=dict)
    revision = models.PositiveIntegerField(default=1)
    status = models.CharField(max_length=20, choices=DraftStatus.choices, default=DraftStatus.OPEN)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()
    updated_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+")

    class Meta:
        ordering = ["-updated_at"]
        indexes = [models.Index(fields=["tenant", "status"])]

    def __str__(self) -> str:
        return f"{self.title} ({self.definition.process_id})"

    @property
    def process_id(self) -> str:
        return self.definition.process_id


class RequestStatus(models.TextChoices):
    PENDING = "pending", _("In attesa di approvazione")
    APPROVED = "approved", _("Approvata e pubblicata")
    REJECTED = "rejected", _("Respinta")
    WITHDRAWN = "withdrawn", _("Ritirata")


class PublishRequest(TenantScopedModel):
    """A request to publish a draft at one revision; a different person approves or rejects it."""

    draft = models.ForeignKey(Draft, on_delete=models.CASCADE, related_name="requests")
    draft_revision = models.PositiveIntegerField()
    content_hash = models.CharField(max_length=64)
    # What changed against the version the draft was forked from (studio.diff.diff_summary).
    diff_summary = models.JSONField(default=dict)
    note = models.TextField(blank=True)
    status = models.CharField(max_length=20, choices=RequestStatus.choices, default=RequestStatus.PENDING)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    requested_at = models.DateTimeField()
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                   related_name="+")
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_note = models.TextField(blank=True)
    version = models.ForeignKey(ProcessVersion, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    # The scenario run that passed on exactly this content when it was asked for (studio.scenario_gate).
    scenario_run = models.ForeignKey("studio.ScenarioRun", null=True, blank=True, on_delete=models.SET_NULL,
                                     related_name="+")

    class Meta:
        ordering = ["-requested_at"]
        constraints = [
            # One pending request per draft: a second would let two approvals race.
            models.UniqueConstraint(fields=["draft"], condition=models.Q(status="pending"),
                                    name="studio_one_pending_request_per_draft"),
        ]


# Scenario runs of a draft in the sandbox (studio/models_tools.py).
from studio.models_tools import ScenarioRun  # noqa: E402,F401
