"""Demo cases of the cremation authorisation (processes/cremation_authorisation/), per demo tenant:
a request to check, one waiting for the judicial nulla osta, one authorised. Safe to run twice."""

from __future__ import annotations

import datetime as dt

from django.core.management.base import BaseCommand

from accounts.models import Tenant, User
from cases.models import Case
from cases.services import case_start, work_item_claim, work_item_complete
from common import clock
from engine.services import outbox_deliver_due

PROCESS_ID = "cremation_authorisation"
# (applicant: fiscal code, given, family), (deceased: fiscal code, given, family, birth date)
FAMILIES = [
    (("BNCLRA85M41E715O", "Laura", "Bianchi"), ("BNCGNN45A01E715D", "Giovanni", "Bianchi", "1945-01-01")),
    (("VRDGPP70C15G702S", "Giuseppe", "Verdi"), ("VRDNNA42A41E715O", "Anna", "Verdi", "1942-01-01")),
    (("RSSMRA80A01H501U", "Mario", "Rossi"), ("RSSGPP40A01E715D", "Giuseppe", "Rossi", "1940-01-01")),
]
CHECKED = {"death_act_checked": True, "identities_checked": True, "will_basis": "testament"}


def request(tenant: Tenant, n: int, applicant: tuple, deceased: tuple) -> dict:
    yesterday = clock.today() - dt.timedelta(days=1)
    municipality = tenant.name.removeprefix("Comune di ")
    return {
        "applicant": {"fiscal_code": applicant[0], "given_name": applicant[1], "family_name": applicant[2],
                      "relationship": "child", "agency": {"name": "Onoranze Funebri Lucchesi srl"}},
        "deceased": {"fiscal_code": deceased[0], "given_name": deceased[1], "family_name": deceased[2],
                     "birth_date": deceased[3]},
        "death": {"date": yesterday.isoformat(), "time": "10:30", "place": "Abitazione", "municipality": municipality},
        "death_act": {"municipality": municipality, "year": yesterday.year, "number": str(100 + n), "part": "I"},
        "will": {"basis": "testament"},
        "crematorium": {"name": "Tempio crematorio di Lucca", "municipality": "Lucca"},
    }


class Command(BaseCommand):
    help = "Load demo cases of the cremation authorisation (after load_demo's accounts)."

    def handle(self, *args, **options):
        for tenant in Tenant.objects.filter(slug__in=["capannori", "lucca"]).order_by("slug"):
            if Case.objects.filter(tenant=tenant, process_id=PROCESS_ID).exists():
                continue
            officer = User.objects.get(username=f"civil_registrar.{tenant.slug}")
            cases = [case_start(tenant=tenant, user=officer, process_id=PROCESS_ID, data=request(tenant, n, a, d))
                     for n, (a, d) in enumerate(FAMILIES)]
            # Case 2: the death was sudden, waiting for the prosecutor's nulla osta.
            self._complete(cases[1], officer, "check_request", CHECKED)
            self._complete(cases[1], officer, "medical_check", {
                "certificate_date": clock.today().isoformat(), "crime_excluded": False,
                "judicial_authority_involved": True})
            # Case 3: authorised (the deed is signed and protocolled by the worker's delivery).
            self._complete(cases[2], officer, "check_request", CHECKED)
            self._complete(cases[2], officer, "medical_check", {
                "certificate_date": clock.today().isoformat(), "crime_excluded": True,
                "judicial_authority_involved": False})
            for _round in range(10):  # deed, protocol, message: one service call after the other
                if not outbox_deliver_due():
                    break
            self.stdout.write(f"{tenant.name}: {len(cases)} pratiche di cremazione di esempio")

    def _complete(self, case: Case, user: User, bpmn_id: str, data: dict) -> None:
        item = case.work_items.filter(status="open", bpmn_id=bpmn_id).first()
        if item is None:
            return
        work_item_claim(work_item_id=item.pk, tenant=case.tenant, user=user)
        work_item_complete(work_item_id=item.pk, tenant=case.tenant, user=user, data=data)
