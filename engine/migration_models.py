"""Rows of the migration of running cases (engine.migration): plans, batches, per-case results.

Imported at the end of engine.models so Django registers them with the engine app; kept in their
own module so the registry's models stay one concern.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from accounts.models import TenantScopedModel


class MigrationPlan(TenantScopedModel):
    """A stored, audited migration document: from one version of a process to another.

    `document` is the JSON the admin wrote or the page built (engine.migration.PlanDocument):
    overrides, variables, timers, accepted changes. Immutable once created: a different plan is a
    new plan, so every batch and every migrated case names exactly what moved it.
    """

    definition = models.ForeignKey("engine.ProcessDefinition", on_delete=models.PROTECT, related_name="+")
    source_version = models.ForeignKey("engine.ProcessVersion", on_delete=models.PROTECT, related_name="+")
    target_version = models.ForeignKey("engine.ProcessVersion", on_delete=models.PROTECT, related_name="+")
    title = models.CharField(max_length=200, blank=True)
    document = models.JSONField()
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["tenant", "created_at"])]

    def __str__(self) -> str:
        return f"plan {self.pk}: {self.definition_id} v{self.source_version_id} -> v{self.target_version_id}"


class BatchMode(models.TextChoices):
    DRY_RUN = "dry_run", _("Prova")
    EXECUTE = "execute", _("Esecuzione")


class BatchStatus(models.TextChoices):
    PENDING = "pending", _("In coda")
    RUNNING = "running", _("In corso")
    DONE = "done", _("Concluso")
    FAILED = "failed", _("Interrotto")


class MigrationBatch(TenantScopedModel):
    """One pass of a plan over the selected cases (a dry run or the real thing), case by case."""

    plan = models.ForeignKey(MigrationPlan, on_delete=models.PROTECT, related_name="batches")
    mode = models.CharField(max_length=10, choices=BatchMode.choices)
    status = models.CharField(max_length=10, choices=BatchStatus.choices, default=BatchStatus.PENDING)
    # {"statuses": [...], "current_task": "...", "instances": [ids]}: which cases it covers
    filters = models.JSONField(default=dict)
    instance_ids = models.JSONField(default=list)  # the selection, fixed when the batch is created
    total = models.PositiveIntegerField(default=0)
    processed = models.PositiveIntegerField(default=0)
    ok = models.PositiveIntegerField(default=0)  # migrated (or would migrate, in a dry run)
    refused = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    skipped = models.PositiveIntegerField(default=0)  # not at the filtered task, or no longer on the source
    error = models.TextField(blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField()
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]

    @property
    def percent(self) -> int:
        return 100 if not self.total else min(100, round(100 * self.processed / self.total))

    @property
    def finished(self) -> bool:
        return self.status in (BatchStatus.DONE, BatchStatus.FAILED)


class CaseOutcome(models.TextChoices):
    OK = "ok", _("Migrabile")
    MIGRATED = "migrated", _("Migrata")
    REFUSED = "refused", _("Rifiutata")
    FAILED = "failed", _("Non riuscita")
    SKIPPED = "skipped", _("Esclusa")
    REVERTED = "reverted", _("Riportata alla versione precedente")


class MigrationCaseResult(TenantScopedModel):
    """What a batch did to (or found for) one case; for a migrated case, what a revert restores."""

    batch = models.ForeignKey(MigrationBatch, on_delete=models.CASCADE, related_name="results")
    instance = models.ForeignKey("engine.WorkflowInstance", on_delete=models.CASCADE, related_name="+")
    case_id = models.BigIntegerField(null=True, blank=True)
    case_number = models.CharField(max_length=30, blank=True)
    outcome = models.CharField(max_length=10, choices=CaseOutcome.choices)
    code = models.CharField(max_length=50, blank=True)  # English, stable: active_task_removed, ...
    message = models.TextField(blank=True)  # Italian, for the admin
    details = models.JSONField(default=dict)  # reasons, warnings, timers, tasks before/after
    # For a revert: the state as it was, and the revision the migration left (nothing happened
    # since means the row still has it).
    previous_state = models.TextField(blank=True)
    previous_serializer_version = models.CharField(max_length=20, blank=True)
    previous_version = models.ForeignKey(
        "engine.ProcessVersion", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    previous_next_timer_at = models.DateTimeField(null=True, blank=True)
    migrated_revision = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField()
    reverted_at = models.DateTimeField(null=True, blank=True)
    reverted_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                    related_name="+")

    class Meta:
        ordering = ["pk"]
        constraints = [
            models.UniqueConstraint(fields=["batch", "instance"], name="migration_result_unique_case"),
        ]
        indexes = [models.Index(fields=["instance", "outcome"])]
