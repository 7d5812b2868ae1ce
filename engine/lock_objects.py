from django.db.models import QuerySet

from .models import WorkflowInstance


def instance_qs_select_for_update() -> QuerySet[WorkflowInstance]:
    # of=("self",) keeps the lock on the instance row only, not on joined tables.
    # The version's files are large and immutable: they are cached per process
    # (engine.bundles), so the lock query never transfers them.
    return (
        WorkflowInstance.objects.select_for_update(of=("self",))
        .select_related("process_version__definition", "tenant")
        .defer("process_version__files")
    )
