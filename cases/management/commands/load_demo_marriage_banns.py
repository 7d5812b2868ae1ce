"""Demo data for the marriage banns (processes/marriage_banns): one request in Capannori driven
through the real services up to its publication on the demo notice board.

The case runs the procedure's own steps: ANPR lookups, the civil registrar's checks, the stamp duty
on pagoPA (paid at the simulated PSP), the signed and protocolled deed, the notice board. `load_demo`
runs before the demo's simulators start, so the connector simulators a step needs are started here,
on their usual addresses, for the time of this command (a simulator already answering is used as it is).
Safe to run twice: a tenant that already has a banns case is left alone.
"""

from __future__ import annotations

import importlib
import logging
import socket
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from urllib.parse import urlparse

from django.core.management.base import BaseCommand

from accounts.models import Tenant, User
from cases.models import Case, WorkItemStatus

logger = logging.getLogger(__name__)

PROCESS_ID = "marriage_banns"
PLATFORMS = ("pdnd", "anpr", "pagopa", "appio", "protocollo")
DEMO_REQUEST = {
    "spouses": [
        {"fiscal_code": "PRVGNN90R10H501Q", "given_name": "Giovanni", "family_name": "Prova", "sex": "M",
         "birth_date": "1990-10-10", "birth_place": "Roma", "citizenship": "IT",
         "residence_municipality": "Capannori", "residence_municipality_istat": "046007"},
        {"fiscal_code": "BNCLRA85M41E715O", "given_name": "Laura", "family_name": "Bianchi", "sex": "F",
         "birth_date": "1985-08-01", "birth_place": "Lucca", "citizenship": "IT",
         "residence_municipality": "Capannori", "residence_municipality_istat": "046007"},
    ],
    "rite": "civil",
    "celebration_municipality": "Capannori",
}
DEMO_CHECKS = {"outcome": "approved", "documents_verified": True, "civil_status_confirmed": True}


def _answers(url: str) -> bool:
    parsed = urlparse(url)
    try:
        with socket.create_connection((parsed.hostname or "127.0.0.1", parsed.port or 80), timeout=0.5):
            return True
    except OSError:
        return False


@contextmanager
def simulators_running(platforms: tuple[str, ...] = PLATFORMS) -> Iterator[None]:
    """The connector simulators on their configured addresses, started here when nothing answers there."""
    from connectors.base.config import base_url
    from connectors.base.simulator import SimulatorServer

    with ExitStack() as stack:
        for platform in platforms:
            url = base_url(platform)
            if _answers(url):
                continue
            app = importlib.import_module(f"connectors.{platform}.simulator").create_app()
            server = SimulatorServer(app, host=urlparse(url).hostname or "127.0.0.1", port=urlparse(url).port or 0)
            server.start()
            stack.callback(server.stop)
        yield


def _deliver_all() -> None:
    from engine.services import outbox_deliver_due

    for _round in range(10):
        if not outbox_deliver_due():
            return


def _pay(case: Case) -> None:
    """The spouses pay the stamp at the (simulated) PSP; the payments poller tells the case."""
    import requests

    from cases.tasks import deliver_payments
    from connectors.base.config import base_url
    from connectors.pagopa.models import DebtPosition

    for notice in DebtPosition.objects.filter(case_id=case.pk, paid_at__isnull=True).values_list("notice_number", flat=True):
        requests.post(f"{base_url('pagopa', case.tenant)}/__sim__/pay/{notice}", timeout=10).raise_for_status()
    deliver_payments()


def load_marriage_banns_demo(tenant: Tenant) -> Case | None:
    """Start the demo banns in `tenant` and drive it to the publication; None if it has one already."""
    from cases.services import case_start, work_item_claim, work_item_complete
    from common import clock

    if Case.objects.filter(tenant=tenant, process_id=PROCESS_ID).exists():
        return None
    officer = User.objects.get(username=f"civil_registrar.{tenant.slug}")
    with simulators_running():
        case = case_start(tenant=tenant, user=officer, process_id=PROCESS_ID,
                          data={**DEMO_REQUEST, "request_date": clock.today().isoformat()})
        _deliver_all()
        item = case.work_items.filter(bpmn_id="checks", status=WorkItemStatus.OPEN).first()
        if item is not None:
            work_item_claim(work_item_id=item.pk, tenant=tenant, user=officer)
            work_item_complete(work_item_id=item.pk, tenant=tenant, user=officer, data=DEMO_CHECKS)
        _deliver_all()
        _pay(case)
        _deliver_all()
    return case


class Command(BaseCommand):
    help = "Demo marriage banns: one request in Capannori, published on the demo notice board."

    def handle(self, *args, **options):
        tenant = Tenant.objects.filter(slug="capannori").first()
        if tenant is None:
            self.stdout.write("Pubblicazioni di matrimonio: nessun ente demo 'capannori' (eseguire load_demo).")
            return
        try:
            case = load_marriage_banns_demo(tenant)
        except Exception as exc:  # noqa: BLE001 - demo data: say what failed, leave the rest of the demo standing
            logger.exception("marriage banns demo failed")
            self.stdout.write(f"Pubblicazioni di matrimonio di esempio non completate: {exc}")
            return
        if case is None:
            self.stdout.write("Pubblicazioni di matrimonio di esempio già presenti.")
            return
        case.refresh_from_db()
        published = "albo" in case.data
        self.stdout.write(f"{tenant.name}: pubblicazioni di matrimonio {case.number}"
                          + (" in pubblicazione all'albo pretorio" if published else " avviate (pubblicazione in corso di preparazione)"))
