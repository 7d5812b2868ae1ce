"""The studio's scenario runs: a draft's tests.yaml run in a sandbox, and walk-throughs recorded
into a scenario (studio/scenarios.py, studio/recording.py).

A run points at its draft by id (text), not by foreign key, so that it stays readable when the
draft is published or deleted; its tenant scopes every query.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class ScenarioRunStatus(models.TextChoices):
    QUEUED = "queued", _("In coda")
    RUNNING = "running", _("In esecuzione")
    DONE = "done", _("Completata")
    FAILED = "failed", _("Non riuscita")


class ScenarioRunKind(models.TextChoices):
    SCENARIOS = "scenarios", _("Scenari")  # every scenario of the draft's tests.yaml
    RECORDING = "recording", _("Registrazione")  # the walk-through being recorded, replayed


class ScenarioRun(models.Model):
    tenant = models.ForeignKey("accounts.Tenant", on_delete=models.CASCADE, related_name="+")
    draft_id = models.CharField(max_length=64, db_index=True)
    process_id = models.CharField(max_length=100)
    kind = models.CharField(max_length=16, choices=ScenarioRunKind.choices, default=ScenarioRunKind.SCENARIOS)
    status = models.CharField(max_length=16, choices=ScenarioRunStatus.choices, default=ScenarioRunStatus.QUEUED)
    # sha256 of the draft's files at launch: a report says which content it is about.
    content_hash = models.CharField(max_length=64, blank=True)
    # The scenarios run: for a recording, the one scenario recorded so far (tests.yaml shape).
    spec = models.JSONField(default=dict, blank=True)
    # One entry per scenario: {"name", "passed", "message", "seconds"}; a recording adds "state".
    results = models.JSONField(default=list, blank=True)
    error = models.TextField(blank=True)  # why the run as a whole did not complete (Italian)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField()
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["tenant", "draft_id", "-created_at"], name="studio_run_draft_idx")]

    def __str__(self) -> str:
        return f"{self.process_id} run {self.pk} ({self.status})"

    @property
    def finished(self) -> bool:
        return self.status in (ScenarioRunStatus.DONE, ScenarioRunStatus.FAILED)

    @property
    def passed_count(self) -> int:
        return sum(1 for r in self.results if r.get("passed"))

    @property
    def failed_count(self) -> int:
        return sum(1 for r in self.results if not r.get("passed"))
