"""Signals of the cases app, for the apps above it (the portal) that must react to a case's progress
without the cases app knowing them."""

from __future__ import annotations

from django.dispatch import Signal

# Sent after the transaction of an engine step that changed a case's tasks or ended it has committed
# (cases.projection.project); kwargs: case_id, tenant_id. Receivers must be quick (queue a task).
case_progressed = Signal()
