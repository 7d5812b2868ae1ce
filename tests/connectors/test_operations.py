"""The registry of connector operations: each declared once, by its public name, with whether a
completed result is remembered for the outbox's retries (`@operation(name, remember=True)`)."""

from __future__ import annotations

import pytest

from common import operations
from common.errors import ConfigurationError
from common.operations import all_operations, get_operation, operation
from connectors.models import OperationResult
from tests.connectors.base.support import ctx_for
from tests.factories import make_tenant

# name -> remembered. Register changes and messages that a platform would repeat are remembered;
# reads, and pagoPA (its DebtPosition row gives the retry the same IUV), are not.
CONNECTOR_OPERATIONS = {
    "anpr.annullamento_mutazione": True,
    "anpr.cancellazione_decesso": True,
    "anpr.c020_residence_lookup": False,
    "anpr.c021_family_lookup": False,
    "anpr.c030_national_id": False,
    "anpr.household_for_move": False,  # a read (C021 + C020) before the registration
    "anpr.spouses_status_check": False,  # reads (C021) and compares with the declarations
    "anpr.mutazione_residenza": True,
    "anpr.p001_list": False,
    "anpr.p002_detail": False,
    "anpr.p003_update": False,
    "appio.get_profile": False,
    "appio.send_message": True,
    "pagopa.create_debt_position": False,
    "pagopa.get_payment_status": False,
    "pagopa.invalidate_debt_position": False,  # idempotent on its own row (invalidated_at)
    "parer.send_sip": True,
    "protocol.register": True,
    "send.create_notification": True,
    "send.get_status": False,
}


def test_the_registry_lists_every_connector_operation_with_its_remember_flag():
    found = {op.name: op.remember for op in all_operations() if op.fn.__module__.startswith("connectors.")}
    assert found == CONNECTOR_OPERATIONS
    for name in CONNECTOR_OPERATIONS:
        op = get_operation(name)
        assert op is not None and op.description


@pytest.fixture
def counting_operation():
    calls = []

    @operation("test.counted", description="Counts its calls (tests only)", params=(), remember=True)
    def counted(params, ctx):
        calls.append(params)
        return {"call": len(calls)}

    yield counted, calls
    operations._REGISTRY.pop("test.counted", None)


@pytest.mark.django_db
def test_a_remembered_operation_answers_a_repeated_delivery_from_its_stored_result(counting_operation):
    counted, calls = counting_operation
    tenant = make_tenant()
    ctx = ctx_for(tenant, key="delivery-1")
    assert get_operation("test.counted")({"n": 1}, ctx) == {"call": 1}
    assert counted({"n": 1}, ctx) == {"call": 1}  # the module function is the remembering one too
    assert len(calls) == 1
    assert OperationResult.objects.get(tenant=tenant, operation="test.counted",
                                       idempotency_key="delivery-1").result == {"call": 1}
    assert counted({"n": 2}, ctx_for(tenant, key="delivery-2")) == {"call": 2}
    other = make_tenant(istat="058091")
    assert counted({"n": 1}, ctx_for(other, key="delivery-1")) == {"call": 3}  # keys are per tenant


def test_a_remembered_operation_refuses_to_run_without_a_result_store(counting_operation, monkeypatch):
    counted, calls = counting_operation
    monkeypatch.setattr(operations, "_result_store", None)
    with pytest.raises(ConfigurationError):
        counted({}, operations.OperationContext(tenant_id=1, tenant_istat="046007", idempotency_key="k"))
    assert calls == []
