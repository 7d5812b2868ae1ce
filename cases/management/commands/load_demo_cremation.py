"""Demo cases of the cremation authorisation (processes/cremation_authorisation/), per demo tenant:
a request to check, one waiting for the judicial nulla osta, one authorised. Each deceased has a
closed death act in the tenant's civil-status registers (the procedure links to it before the deed).
Safe to run twice."""

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


def death_act_number(tenant: Tenant, deceased: tuple, died: dt.date) -> int:
    """The number of the deceased's closed death act in the tenant's registers, drawn up if missing."""
    from registry.civil_status.services import act_register
    from registry.models import ActKind, ActRole, ActStatus, CivilAct, Person
    from registry.text import normalise

    existing = CivilAct.objects.filter(tenant=tenant, kind=ActKind.DEATH, status=ActStatus.CLOSED, part="1",
                                       series="", parties__role=ActRole.DECEASED,
                                       parties__person__fiscal_code=deceased[0]).first()
    if existing is not None:
        return existing.number
    person = Person.objects.filter(tenant=tenant, fiscal_code=deceased[0], death_date__isnull=True).first()
    if person is None:
        person = Person.objects.create(
            tenant=tenant, fiscal_code=deceased[0], given_name=deceased[1].upper(), family_name=deceased[2].upper(),
            search_name=normalise(f"{deceased[2]} {deceased[1]}"), sex="F" if deceased[0][9] in "4567" else "M",
            birth_date=dt.date.fromisoformat(deceased[3]))
    act = act_register(tenant=tenant, actor=None, kind="death", act_date=died, office=tenant.name,
                       officer="Ufficiale dello stato civile", parties=[(person.pk, "deceased")],
                       data={"death_date": died.isoformat(), "death_time": "10:30", "death_place": "Abitazione"})
    return act.number


def request(tenant: Tenant, n: int, applicant: tuple, deceased: tuple) -> dict:
    yesterday = clock.today() - dt.timedelta(days=1)
    municipality = tenant.name.removeprefix("Comune di ")
    number = death_act_number(tenant, deceased, yesterday)
    return {
        "applicant": {"fiscal_code": applicant[0], "given_name": applicant[1], "family_name": applicant[2],
                      "relationship": "child", "agency": {"name": "Onoranze Funebri Lucchesi srl"}},
        "deceased": {"fiscal_code": deceased[0], "given_name": deceased[1], "family_name": deceased[2],
                     "birth_date": deceased[3]},
        "death": {"date": yesterday.isoformat(), "time": "10:30", "place": "Abitazione", "municipality": municipality},
        "death_act": {"municipality": municipality, "year": yesterday.year, "number": str(number), "part": "I"},
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
