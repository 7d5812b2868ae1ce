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


def _terms_post(**changes):
    form = {"weekdays": ["0", "1", "2", "3", "4", "5"], "start": "07:30", "end": "19:00", "national_holidays": "1",
            "holidays": "24/12/2026\n2026-12-31"}
    for level, hours in (("4", "1"), ("3", "4"), ("2", "1"), ("1", "5")):
        form.update({f"label_{level}": f"Livello {level} del contratto", f"amount_{level}": hours,
                     f"unit_{level}": "hours" if level in "43" else "working_days",
                     f"penalty_fixed_{level}": "10,50", f"penalty_per_hour_{level}": "2"})
    form.update(changes)
    return form


def test_the_terms_page_lets_the_supervisor_set_the_terms_and_others_only_read_them():
    from django.test import Client

    from accounts.roles import Role
    from audit.models import AuditEvent
    from support.models import SupportTerms
    from support.terms import terms_of
    from tests.factories import make_tenant, make_user

    tenant = make_tenant("Comune di Lucca", istat="046017")
    client = Client()
    client.force_login(make_user(tenant, Role.SUPERVISOR))
    page = client.get("/assistenza/livelli/")
    assert page.status_code == 200 and "Bloccante" in page.content.decode()
    saved = client.post("/assistenza/livelli/", _terms_post())
    assert saved.status_code == 302
    terms = terms_of(tenant)
    assert terms["calendar"]["weekdays"] == [0, 1, 2, 3, 4, 5] and terms["calendar"]["start"] == "07:30"
    assert terms["calendar"]["holidays"] == ["2026-12-24", "2026-12-31"]
    assert terms["levels"]["4"]["minutes"] == 60 and terms["levels"]["1"]["minutes"] == 5 * 690
    assert terms["levels"]["4"]["penalty_fixed"] == "10.50"
    assert AuditEvent.objects.filter(tenant=tenant, object_type="support_terms", action="update").count() == 1
    # invalid input: an Italian message, nothing saved
    for bad in ({"end": "07:00"}, {"weekdays": []}, {"holidays": "31/02/2026"}, {"amount_3": "-1"},
                {"amount_2": "tanto"}, {"penalty_fixed_1": "-5"}):
        response = client.post("/assistenza/livelli/", _terms_post(**bad))
        assert response.status_code == 400, bad
        assert 'role="alert"' in response.content.decode(), bad
    assert SupportTerms.objects.get(tenant=tenant).calendar["start"] == "07:30"
    from tests.factories import second_factor_client

    for role in (Role.SUPPORT, Role.PROCESS_ADMIN):
        reader = second_factor_client(make_user(tenant, role))
        body = reader.get("/assistenza/livelli/").content.decode()
        assert "Salva i livelli" not in body and "disabled" in body
        assert reader.post("/assistenza/livelli/", _terms_post(start="06:00")).status_code == 403
    registrar = Client()
    registrar.force_login(make_user(tenant, Role.REGISTRAR))
    assert registrar.get("/assistenza/livelli/").status_code == 403
    assert terms_of(tenant)["calendar"]["start"] == "07:30"
