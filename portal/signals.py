"""How the portal keeps `Case.subjects_watched` true for the cases of citizens who asked for messages
(App IO or email), so that a step of any other case asks the portal nothing (cases.signals).

- when a case opens: `OptedInCitizens`, registered in `cases.signals.subject_watches`, answers whether
  an opted-in citizen of the tenant is among its subjects (on PostgreSQL inside the case's INSERT);
- when a citizen opts in later (their profile saved with a channel on): `profile_saved` flags every case
  of the tenant they are a subject of. Opting out leaves the flag (a hint): the milestone hook still
  checks who opted in (portal.tasks.on_case_progressed).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

from django.db import connection


class OptedInCitizens:
    """cases.signals.SubjectWatch: an opted-in citizen profile of the tenant whose user has one of the
    subjects' fiscal codes (the query of portal.tasks.on_case_progressed)."""

    @property
    def sql(self) -> str:
        return _opted_in_sql()

    def __call__(self, tenant_id: int, fiscal_codes: Sequence[str]) -> bool:
        from .models import CitizenProfile
        from .services import models_q_opted_in

        return CitizenProfile.objects.filter(models_q_opted_in(), tenant_id=tenant_id,
                                             user__fiscal_code__in=list(fiscal_codes)).exists()


@functools.cache
def _opted_in_sql() -> str:
    from accounts.models import User

    from .models import CitizenProfile

    q = connection.ops.quote_name
    return (
        f"EXISTS (SELECT 1 FROM {q(CitizenProfile._meta.db_table)} p "
        f"INNER JOIN {q(User._meta.db_table)} u ON u.{q('id')} = p.{q('user_id')} "
        f"WHERE p.{q('tenant_id')} = %s AND (p.{q('io_opt_in')} OR p.{q('email_opt_in')}) "
        f"AND u.{q('fiscal_code')} = ANY(%s))"
    )


def profile_saved(sender, instance, **kwargs) -> None:
    """post_save of CitizenProfile: a citizen who receives messages watches every case they are a subject of."""
    if not (instance.io_opt_in or instance.email_opt_in):
        return
    watch_cases_of(tenant_id=instance.tenant_id, user_id=instance.user_id)


def watch_cases_of(*, tenant_id: int, user_id: int) -> int:
    """Flag the tenant's cases that have the user's fiscal code among their subjects; how many changed."""
    from accounts.models import User
    from cases.models import Case, CaseSubject

    code = (User.objects.filter(pk=user_id).values_list("fiscal_code", flat=True).first() or "").upper()
    if not code:
        return 0
    cases = CaseSubject.objects.filter(tenant_id=tenant_id, fiscal_code=code).values("case_id")
    return Case.objects.filter(tenant_id=tenant_id, pk__in=cases, subjects_watched=False).update(subjects_watched=True)
