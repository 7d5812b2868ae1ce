"""Persistence of the engine: process registry, workflow instances, outbox, incidents."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from accounts.models import TenantScopedModel


class ProcessDefinition(models.Model):
    """A procedure shipped in processes/<process_id>/ (data, not code)."""

    process_id = models.SlugField(max_length=100, unique=True)
    name = models.CharField(max_length=200)
    category = models.CharField(max_length=50, blank=True)
    description = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["process_id"]

    def __str__(self) -> str:
        return self.name

    @property
    def latest_version(self) -> ProcessVersion | None:
        """The newest shipped version (tenant variants are not shipped: see ProcessVersion.tenant)."""
        return self.versions.filter(tenant__isnull=True).order_by("-version").first()


class ProcessVersion(models.Model):
    """An immutable bundle: every file of the procedure folder, and its content hash.

    A version without a tenant is shipped (processes/<id>/, `sync_processes`): every municipality
    sees it. A version with a tenant is that municipality's own variant, published from the studio:
    new cases of that tenant start on its newest variant, and no other tenant ever sees it.
    Numbers are shared by both kinds (one sequence per procedure), so "v7" names one bundle.
    """

    definition = models.ForeignKey(ProcessDefinition, on_delete=models.PROTECT, related_name="versions")
    tenant = models.ForeignKey("accounts.Tenant", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    # A tenant variant: the shipped version it was forked from (what "a shipped update" is compared to).
    based_on = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    version = models.PositiveIntegerField()
    content_hash = models.CharField(max_length=64)
    # relative path -> text content (BPMN, DMN, JSON forms, manifest, README)
    files = models.JSONField()
    manifest = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["definition", "version"], name="process_version_unique_number"),
            models.UniqueConstraint(fields=["definition", "content_hash"], name="process_version_unique_hash",
                                    condition=models.Q(tenant__isnull=True)),
            models.UniqueConstraint(fields=["definition", "tenant", "content_hash"],
                                    name="process_version_unique_tenant_hash",
                                    condition=models.Q(tenant__isnull=False)),
        ]
        ordering = ["definition", "-version"]

    def __str__(self) -> str:
        return f"{self.definition.process_id} v{self.version}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise ValueError("process versions are immutable")
        super().save(*args, **kwargs)

    @property
    def is_shipped(self) -> bool:
        return self.tenant_id is None


class InstanceStatus(models.TextChoices):
    RUNNING = "running", _("In corso")
    COMPLETED = "completed", _("Concluso")
    CANCELLED = "cancelled", _("Annullato")
    ERROR = "error", _("In errore")


class WorkflowInstance(TenantScopedModel):
    """The engine state of one case: serialized SpiffWorkflow workflow + revision."""

    process_version = models.ForeignKey(ProcessVersion, on_delete=models.PROTECT, related_name="instances")
    state = models.TextField()  # JSON text; kept as text to avoid re-encoding jsonb on every save
    serializer_version = models.CharField(max_length=20)
    revision = models.PositiveIntegerField(default=0)
    status = models.CharField(max_length=20, choices=InstanceStatus.choices, default=InstanceStatus.RUNNING)
    business_key = models.CharField(max_length=200, blank=True, db_index=True)
    # The case this instance drives (cases -> engine; kept as plain values, no FK).
    case_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    case_number = models.CharField(max_length=30, blank=True)
    next_timer_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(
                fields=["next_timer_at"],
                name="instance_due_timer_idx",
                condition=models.Q(next_timer_at__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return f"instance {self.pk} ({self.process_version})"


class OutboxStatus(models.TextChoices):
    PENDING = "pending", _("In attesa")
    RUNNING = "running", _("In esecuzione")
    DONE = "done", _("Eseguita")
    FAILED = "failed", _("Fallita")
    CANCELLED = "cancelled", _("Annullata")


class OutboxMessage(TenantScopedModel):
    """A service call decided inside a case transaction, performed later by a worker."""

    instance = models.ForeignKey(WorkflowInstance, on_delete=models.CASCADE, related_name="outbox")
    task_id = models.CharField(max_length=36)
    task_bpmn_id = models.CharField(max_length=200)
    operation = models.CharField(max_length=200)
    params = models.JSONField(default=dict)
    # One key per (instance, task execution): a retry of the same call reuses it.
    idempotency_key = models.CharField(max_length=100, unique=True)
    status = models.CharField(max_length=20, choices=OutboxStatus.choices, default=OutboxStatus.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    locked_until = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    result = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                name="outbox_pending_idx",
                condition=models.Q(status__in=["pending", "running"]),
            ),
        ]


class IncidentStatus(models.TextChoices):
    OPEN = "open", _("Aperto")
    RESOLVED = "resolved", _("Risolto")


class Incident(TenantScopedModel):
    """A failure inside one case (script error, connector giving up): visible, retryable."""

    instance = models.ForeignKey(WorkflowInstance, on_delete=models.CASCADE, related_name="incidents")
    task_id = models.CharField(max_length=36, blank=True)
    task_bpmn_id = models.CharField(max_length=200, blank=True)
    task_name = models.CharField(max_length=300, blank=True)
    kind = models.CharField(max_length=30)  # script_error | service_failed | engine_error
    message = models.TextField()  # plain words for an admin, Italian
    details = models.TextField(blank=True)  # technical detail (English, exception text)
    outbox = models.ForeignKey(OutboxMessage, null=True, blank=True, on_delete=models.SET_NULL)
    # Caused by the case's data (the platform refused it, a script could not use it): a supervisor may
    # send the case back to the user task that produced the data (engine.services.incident_send_back).
    # False for a platform that did not answer: the call may have been applied, only "Riprova" is safe.
    data_error = models.BooleanField(default=False)
    status = models.CharField(max_length=20, choices=IncidentStatus.choices, default=IncidentStatus.OPEN)
    created_at = models.DateTimeField()
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)

    class Meta:
        indexes = [models.Index(fields=["tenant", "status"])]


# Registered with the engine app here; defined apart (see the module).
from .migration_models import (  # noqa: E402
    BatchMode,
    BatchStatus,
    CaseOutcome,
    MigrationBatch,
    MigrationCaseResult,
    MigrationPlan,
)

__all__ = [
    "BatchMode", "BatchStatus", "CaseOutcome", "Incident", "IncidentStatus", "InstanceStatus", "MigrationBatch",
    "MigrationCaseResult", "MigrationPlan", "OutboxMessage", "OutboxStatus", "ProcessDefinition", "ProcessVersion",
    "WorkflowInstance",
]
