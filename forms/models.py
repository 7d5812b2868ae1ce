from django.conf import settings
from django.db import models

from accounts.models import TenantScopedModel


class Draft(TenantScopedModel):
    """A task form saved but not submitted ("Salva bozza"): one per work item and user.

    The work item is referenced by id, not by foreign key: `cases` depends on `forms`,
    never the other way round."""

    work_item_id = models.BigIntegerField()
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    data = models.JSONField(default=dict)
    updated_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["work_item_id", "user"], name="draft_unique_per_user")]

    def __str__(self) -> str:
        return f"draft {self.work_item_id} by {self.user_id}"
