"""The tenant's SLA terms: the tender's defaults, tenant data that a running ticket does not see
change, validation, and who may change them (audited)."""

import pytest

from accounts.roles import Role
from audit.models import AuditEvent
from common.errors import PermissionRefused, ValidationFailed
from support.services import terms_update
from support.terms import DEFAULT_LEVELS, terms_of
from tests.factories import make_tenant, make_user

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]

TIGHT = {lv: {**entry} for lv, entry in DEFAULT_LEVELS.items()}
TIGHT["4"] = {"label": "Critico", "target": {"hours": 1}, "penalty_fixed": "500", "penalty_per_hour": "100"}
ALWAYS = {"weekdays": [0, 1, 2, 3, 4, 5, 6], "start": "00:00", "end": "24:00"}


def test_defaults_are_the_tender_figures():
    tenant = make_tenant("Comune di Lucca", istat="046017", patron=(7, 12))
    terms = terms_of(tenant)
    assert {lv: e["minutes"] for lv, e in terms["levels"].items()} == {"4": 120, "3": 480, "2": 1200, "1": 6000}
    assert terms["calendar"]["patron_day"] == [7, 12]


def test_supervisor_sets_tighter_terms_audited():
    tenant = make_tenant("Comune di Lucca", istat="046017")
    supervisor = make_user(tenant, Role.SUPERVISOR)
    terms_update(tenant=tenant, user=supervisor, calendar=ALWAYS, levels=TIGHT)
    terms = terms_of(tenant)
    assert terms["levels"]["4"]["minutes"] == 60 and terms["levels"]["4"]["penalty_fixed"] == "500.00"
    assert terms["levels"]["2"]["minutes"] == 2 * 24 * 60  # a working day is the whole service window
    assert AuditEvent.objects.filter(tenant=tenant, object_type="support_terms").count() == 1


@pytest.mark.parametrize("role", [Role.REGISTRAR, Role.SUPPORT, Role.PROCESS_ADMIN])
def test_only_the_supervisor_changes_them(role):
    tenant = make_tenant("Comune di Lucca", istat="046017")
    with pytest.raises(PermissionRefused):
        terms_update(tenant=tenant, user=make_user(tenant, role), calendar=ALWAYS, levels=TIGHT)


@pytest.mark.parametrize(("calendar", "levels"), [
    ({"weekdays": []}, TIGHT),
    (ALWAYS, {k: v for k, v in TIGHT.items() if k != "1"}),
    (ALWAYS, {**TIGHT, "4": {**TIGHT["4"], "target": {"hours": 0}}}),
    (ALWAYS, {**TIGHT, "4": {**TIGHT["4"], "penalty_fixed": "-5"}}),
    (ALWAYS, {**TIGHT, "4": {**TIGHT["4"], "penalty_per_hour": "Infinity"}}),
    (ALWAYS, {**TIGHT, "4": {**TIGHT["4"], "target": {"hours": 10**9}}}),
])
def test_invalid_terms_are_refused(calendar, levels):
    tenant = make_tenant("Comune di Lucca", istat="046017")
    with pytest.raises(ValidationFailed):
        terms_update(tenant=tenant, user=make_user(tenant, Role.SUPERVISOR), calendar=calendar, levels=levels)
