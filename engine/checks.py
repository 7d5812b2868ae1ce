"""Django system checks: every shipped procedure folder must be valid at start."""

from django.core import checks

from .registry import validate_all


@checks.register("procedo")
def check_process_bundles(app_configs=None, **kwargs):
    errors = []
    for process_id, problems in validate_all().items():
        for problem in problems:
            errors.append(checks.Error(problem, obj=f"processes/{process_id}", id="procedo.E001"))
    return errors
