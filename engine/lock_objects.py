from django.db.models import QuerySet

from .models import WorkflowInstance


def instance_qs_select_for_update() -> QuerySet[WorkflowInstance]:
    # of=("self",) keeps the lock on the instance row only, not on joined tables.
    # Process versions are immutable and cached per process (engine.bundles.version_by_id),
    # so the lock query reads only the instance and its tenant.
    return WorkflowInstance.objects.select_for_update(of=("self",)).select_related("tenant")
