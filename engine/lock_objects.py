from django.db.models import QuerySet

from .models import WorkflowInstance


def instance_qs_select_for_update() -> QuerySet[WorkflowInstance]:
    # of=("self",) keeps the lock on the instance row only, not on joined tables.
    return WorkflowInstance.objects.select_for_update(of=("self",)).select_related(
        "process_version__definition", "tenant"
    )
