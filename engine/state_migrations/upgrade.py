"""Upgrading stored states ahead of time (`manage.py upgrade_workflow_states`).

Loading migrates an old state on the fly, and the next save writes the current
version, so a case that moves is upgraded by moving. A case that waits for months
(a legal deadline, a citizen's reply) keeps its old state until then: run the
command after an upgrade so that no row depends on a migration step that a later
release might drop, and before one, to see which rows would be refused.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db import transaction
from django.db.models import Count

from common import clock

from ..bundles import parsed_specs, version_by_id
from ..lock_objects import instance_qs_select_for_update
from ..models import WorkflowInstance
from . import CURRENT_VERSION, UnsupportedStateVersion


@dataclass
class UpgradeReport:
    upgraded: int = 0
    refused: dict[int, str] = field(default_factory=dict)  # instance id -> version it is in


def instances_by_state_version() -> dict[str, int]:
    """How many instances each stored version holds (the `serializer_version` column)."""
    rows = WorkflowInstance.objects.values("serializer_version").annotate(n=Count("pk")).order_by("serializer_version")
    return {row["serializer_version"]: row["n"] for row in rows}


def instance_state_upgrade(*, instance_id: int) -> bool:
    """Rewrite one instance's state in the current version; False if it already was."""
    from ..spiff import dump_workflow, load_workflow, script_engine_for

    with transaction.atomic():
        instance = instance_qs_select_for_update().get(pk=instance_id)
        if instance.serializer_version == CURRENT_VERSION:
            return False
        spec, subprocess_specs = parsed_specs(version_by_id(instance.process_version_id))
        workflow = load_workflow(instance.state, spec=spec, subprocess_specs=subprocess_specs,
                                 script_engine=script_engine_for(instance.tenant.work_calendar),
                                 stored_version=instance.serializer_version)
        instance.state = dump_workflow(workflow)
        instance.serializer_version = CURRENT_VERSION
        instance.revision += 1
        instance.updated_at = clock.now()
        instance.save(update_fields=["state", "serializer_version", "revision", "updated_at"])
        return True


def upgrade_all(*, limit: int | None = None) -> UpgradeReport:
    report = UpgradeReport()
    ids = (WorkflowInstance.objects.exclude(serializer_version=CURRENT_VERSION)
           .order_by("pk").values_list("pk", "serializer_version"))
    for pk, version in ids[:limit] if limit else ids:
        try:
            if instance_state_upgrade(instance_id=pk):
                report.upgraded += 1
        except UnsupportedStateVersion as exc:
            report.refused[pk] = str(exc.version if exc.version is not None else version)
    return report
