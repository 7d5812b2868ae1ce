from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from accounts.models import TenantScopedModel
from engine.models import ProcessVersion, WorkflowInstance


class CaseStatus(models.TextChoices):
    OPEN = "open", _("Aperta")
    CLOSED = "closed", _("Conclusa")
    CANCELLED = "cancelled", _("Annullata")


class CaseNumberSequence(TenantScopedModel):
    """Human case numbers per tenant and year: 2026/000042."""

    year = models.PositiveIntegerField()
    last = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant", "year"], name="case_sequence_unique_year")]


class Case(TenantScopedModel):
    number = models.CharField(_("numero"), max_length=20)
    process_id = models.CharField(max_length=100, db_index=True)  # denormalised for filters
    process_version = models.ForeignKey(ProcessVersion, on_delete=models.PROTECT, related_name="+")
    instance = models.OneToOneField(
        WorkflowInstance, null=True, blank=True, on_delete=models.PROTECT, related_name="case"
    )
    title = models.CharField(max_length=300, blank=True)
    status = models.CharField(max_length=20, choices=CaseStatus.choices, default=CaseStatus.OPEN)
    business_key = models.CharField(max_length=200, blank=True, db_index=True)
    subjects = models.JSONField(default=list)  # [{"fiscal_code", "given_name", "family_name"}]
    data = models.JSONField(default=dict)  # snapshot of the case data, for display and export
    outcome = models.CharField(max_length=100, blank=True)
    has_open_incident = models.BooleanField(default=False)
    opened_at = models.DateTimeField()
    closed_at = models.DateTimeField(null=True, blank=True)
    legal_due_date = models.DateField(null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    updated_at = models.DateTimeField()
    # The client's `Idempotency-Key` of the API call that opened the case: the same call repeated (an
    # answer lost to a web process killed mid-request, a client retry) gets this case back, not a new one.
    idempotency_key = models.CharField(max_length=100, blank=True, default="")
    # Someone may want to hear about this case's progress: an app above (the portal) watches one of its
    # subjects (a citizen who asked for messages). Set when the case opens (cases.signals.subject_watches)
    # and by that app when a subject starts watching; never cleared (a hint: the app decides who to tell).
    # A step of a case without it sends no cases.signals.case_progressed, so it asks nothing.
    subjects_watched = models.BooleanField(default=False, db_default=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "number"], name="case_unique_number"),
            models.UniqueConstraint(fields=["tenant", "idempotency_key"], name="case_unique_idempotency_key",
                                    condition=~models.Q(idempotency_key="")),
        ]
        indexes = [
            models.Index(fields=["tenant", "status", "opened_at"]),
            models.Index(fields=["tenant", "legal_due_date"]),
        ]
        ordering = ["-opened_at"]

    def __str__(self) -> str:
        return f"{self.number}"


class CaseSubject(TenantScopedModel):
    """One row per subject and case: search by fiscal code without scanning JSON."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="subject_rows")
    fiscal_code = models.CharField(max_length=16)

    class Meta:
        indexes = [models.Index(fields=["tenant", "fiscal_code"])]
        constraints = [models.UniqueConstraint(fields=["case", "fiscal_code"], name="case_subject_unique")]


class WorkItemStatus(models.TextChoices):
    OPEN = "open", _("Da svolgere")
    COMPLETED = "completed", _("Completato")
    CANCELLED = "cancelled", _("Annullato")


class WorkItem(TenantScopedModel):
    """A READY human task of a case, projected from the engine for fast inboxes."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="work_items")
    task_id = models.CharField(max_length=36)
    bpmn_id = models.CharField(max_length=200)
    name = models.CharField(max_length=300)
    role = models.CharField(max_length=32)
    form = models.CharField(max_length=200, blank=True)
    ui_form = models.CharField(max_length=200, blank=True)
    instructions = models.TextField(blank=True)
    status = models.CharField(max_length=20, choices=WorkItemStatus.choices, default=WorkItemStatus.OPEN)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="work_items"
    )
    claimed_at = models.DateTimeField(null=True, blank=True)
    candidate_users = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="candidate_work_items")
    restricted_to_candidates = models.BooleanField(default=False)
    # Four-eyes rule: this user did the step named by notSameUserAs and may not do this one.
    excluded_username = models.CharField(max_length=150, blank=True)
    due_at = models.DateField(null=True, blank=True)
    priority = models.PositiveSmallIntegerField(default=2)
    created_at = models.DateTimeField()
    completed_at = models.DateTimeField(null=True, blank=True)
    completed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        constraints = [models.UniqueConstraint(fields=["case", "task_id"], name="work_item_unique_task")]
        indexes = [
            # The two inboxes, in their sort order (due date, priority, id), so a page is
            # read straight from the index; INCLUDE lets counts skip the table.
            models.Index(
                fields=["tenant", "role", "due_at", "priority", "id"],
                name="wi_available_idx",
                condition=models.Q(status="open", assignee__isnull=True),
                include=["excluded_username", "restricted_to_candidates"],
            ),
            models.Index(
                fields=["assignee", "due_at", "priority", "id"],
                name="wi_assigned_idx",
                condition=models.Q(status="open"),
                include=["tenant"],
            ),
            models.Index(fields=["tenant", "status", "due_at"], name="wi_tenant_status_due_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.case.number}: {self.name}"


class Comment(TenantScopedModel):
    """An internal note between operators on a case."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="comments")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    text = models.TextField()
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["created_at"]


class SavedFilter(TenantScopedModel):
    """A named set of inbox filters; shared ones are offered to colleagues holding a role of the owner."""

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="saved_filters")
    name = models.CharField(_("nome"), max_length=80)
    # The inbox's own query string (only the filter keys it knows), e.g. "tab=available&process=x".
    query = models.CharField(max_length=500, blank=True)
    shared = models.BooleanField(_("condiviso con la squadra"), default=False)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "owner", "name"], name="saved_filter_unique_name"),
        ]
        indexes = [models.Index(fields=["tenant", "shared"], name="saved_filter_shared_idx")]

    def __str__(self) -> str:
        return self.name


class ProcessSettings(TenantScopedModel):
    """A municipality's choices for one procedure (the manifest's `settings`, e.g. the days to pay
    the stamp duty, four-eyes checks): only the values that differ from the declared defaults.
    A case reads them once, when it opens (`settings` in its data)."""

    process_id = models.CharField(max_length=100)
    values = models.JSONField(default=dict)
    updated_at = models.DateTimeField()
    updated_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        verbose_name = _("impostazioni del procedimento")
        verbose_name_plural = _("impostazioni dei procedimenti")
        constraints = [models.UniqueConstraint(fields=["tenant", "process_id"], name="process_settings_unique")]
class NoticeChannel(models.TextChoices):
    APPIO = "appio", _("App IO")
    SEND = "send", _("SEND (notifica digitale o raccomandata)")
    PEC = "pec", _("PEC (tramite SEND)")


class NoticeStatus(models.TextChoices):
    SENT = "sent", _("Inviata, in attesa di consegna")
    DELIVERED = "delivered", _("Consegnata")
    FAILED = "failed", _("Non consegnata")


class CitizenNotice(TenantScopedModel):
    """A notice sent to a citizen by a case (`notify.citizen`): the channel chosen, the platform's
    id to follow it, its protocol number, and the delivery date the channel reported. Created and
    updated only by cases.notices."""

    case = models.ForeignKey(Case, on_delete=models.PROTECT, related_name="notices")
    document = models.ForeignKey("documents.Document", null=True, blank=True, on_delete=models.PROTECT,
                                 related_name="+")
    kind = models.SlugField(max_length=50)
    title = models.CharField(max_length=300)
    fiscal_code = models.CharField(max_length=16)
    channel = models.CharField(max_length=10, choices=NoticeChannel.choices)
    external_id = models.CharField(max_length=200, blank=True)  # App IO message id, SEND request id
    iun = models.CharField(max_length=50, blank=True)  # SEND notification id, once accepted
    protocol_number = models.CharField(max_length=50, blank=True)
    protocol_date = models.DateField(null=True, blank=True)
    status = models.CharField(max_length=20, choices=NoticeStatus.choices, default=NoticeStatus.SENT)
    status_detail = models.CharField(max_length=300, blank=True)
    # The BPMN message delivered to the case once the channel reports the delivery (e.g.
    # "notice_delivered" for the 10-bis notice, whose date starts the 10 days), or "".
    delivery_message = models.CharField(max_length=100, blank=True)
    # The BPMN message delivered to the case when the channel reports the notice undeliverable (the
    # office then delivers it another way: registered post, the municipal messenger), or "".
    failure_message = models.CharField(max_length=100, blank=True)
    sent_at = models.DateTimeField()
    delivered_on = models.DateField(null=True, blank=True)
    last_checked_at = models.DateTimeField(null=True, blank=True)
    idempotency_key = models.CharField(max_length=200)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "idempotency_key"], name="citizen_notice_unique_idempotency"),
        ]
        indexes = [models.Index(fields=["status", "channel"]), models.Index(fields=["tenant", "case"])]
        ordering = ["sent_at", "id"]

    def __str__(self) -> str:
        return f"{self.kind} {self.channel} {self.status}"
