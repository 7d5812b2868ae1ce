"""Timers: fire each due timer exactly once, however many workers run the sweep.

Candidates are read without locks; each is then locked (level 1 of `engine.locks`) with SKIP
LOCKED and its due condition re-checked, so a worker never waits for another and never fires an
instance that another transaction has just advanced or cancelled. Each instance is fired in a
transaction of its own; the projector is the configured one (`engine.runtime.resolve_projector`).
"""

from __future__ import annotations

import datetime as dt

from common import clock

from .locks import lock_instance, run_in_transaction
from .models import InstanceStatus, WorkflowInstance
from .runtime import InstanceRuntime
from .spiff import fire_reached_timers
from .types import Projector


def timer_fire(instance_id: int, *, now: dt.datetime | None = None, projector: Projector | None = None) -> bool:
    """Fire the due timers of one instance. False: not due any more, or another worker holds it."""
    now = now or clock.now()

    def fire() -> bool:
        instance = lock_instance(
            instance_id, skip_locked=True, filters={"next_timer_at__lte": now, "status": InstanceStatus.RUNNING}
        )
        if instance is None:
            return False
        runtime = InstanceRuntime.load_or_incident(instance, projector=projector)
        if runtime is None:
            return False
        before = runtime.ready_user_task_ids()
        # A timer is due at its instant, as the query above says (SpiffWorkflow alone would
        # wait until the instant has passed and the next sweep).
        fire_reached_timers(runtime.workflow, now)
        runtime.advance(event="timer", detail={"due": now.isoformat()}, previous_ready_ids=before)
        return True

    return run_in_transaction(fire, what=f"timer of instance {instance_id}")


def fire_due_timers(*, limit: int = 200) -> int:
    """Fire every due timer once; returns how many instances this call fired."""
    now = clock.now()
    candidates = list(
        WorkflowInstance.objects.filter(next_timer_at__lte=now, status=InstanceStatus.RUNNING)
        .order_by("next_timer_at")
        .values_list("pk", flat=True)[:limit]
    )
    return sum(1 for pk in candidates if timer_fire(pk, now=now))
