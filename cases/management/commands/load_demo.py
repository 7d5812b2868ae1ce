"""Demo data: two municipalities, a user per role, citizens, sample cases in several states."""

from __future__ import annotations

from django.core.management import call_command
from django.core.management.base import BaseCommand

from accounts.demo import load_demo_accounts
from accounts.models import User
from cases.models import Case
from cases.services import case_start, work_item_claim, work_item_complete
from engine.services import outbox_deliver_due


def _declaration(cf: str, given: str, family: str, street: str, number: str, istat: str, date: str) -> dict:
    return {
        "declarants": [{"fiscal_code": cf, "given_name": given, "family_name": family}],
        "new_address": {"street": street, "house_number": number, "municipality_istat": istat},
        "declaration_date": date,
    }


class Command(BaseCommand):
    help = "Load demo tenants, users (password 'demo') and sample cases. Safe to run twice."

    def handle(self, *args, **options):
        call_command("sync_processes", verbosity=0)
        tenants = load_demo_accounts()
        call_command("registry_load_demo")  # the population register, from a synthetic legacy export
        for slug, tenant in tenants.items():
            if Case.objects.filter(tenant=tenant).exists():
                continue
            registrar = User.objects.get(username=f"registrar.{slug}")
            police = User.objects.get(username=f"police.{slug}")
            istat = tenant.istat_code
            people = [
                ("PRVGNN90R10H501Q", "Giovanni", "Prova", "Via Roma", "12"),
                ("RSSMRA80A01H501U", "Mario", "Rossi", "Via del Fosso", "3"),
                ("BNCLRA85M41E715O", "Laura", "Bianchi", "Piazza San Michele", "1"),
                ("VRDGPP70C15G702S", "Giuseppe", "Verdi", "Via Pesciatina", "140"),
            ]
            cases = []
            for cf, given, family, street, number in people:
                cases.append(
                    case_start(
                        tenant=tenant,
                        user=registrar,
                        process_id="residence_change",
                        data=_declaration(cf, given, family, street, number, istat, "2026-11-20"),
                    )
                )
            # Case 2: registered, waiting for the police check.
            if len(cases) > 1:
                self._complete_first(cases[1], registrar)
                outbox_deliver_due()
            # Case 3: registered and verified positively: closed.
            if len(cases) > 2:
                self._complete_first(cases[2], registrar)
                outbox_deliver_due()
                self._complete_first(
                    cases[2], police,
                    {"outcome": "positive", "visit_date": "2026-11-21", "found_at_address": True, "notes": "Presente"},
                )
            self.stdout.write(f"{tenant.name}: {len(cases)} pratiche di esempio")
        call_command("load_demo_cremation")  # the cremation authorisation (processes/cremation_authorisation/)
        call_command("load_demo_noticeboard")  # by name: the notice board sits above cases
        call_command("load_demo_support")  # malfunction tickets with SLA (support app, issue 12)
        call_command("load_demo_marriage_banns")  # one banns request published on the demo notice board
        self.stdout.write("Utenti demo pronti (password: demo).")

    def _complete_first(self, case: Case, user: User, data: dict | None = None) -> None:
        item = case.work_items.filter(status="open").order_by("id").first()
        if item is None:
            return
        work_item_claim(work_item_id=item.pk, tenant=case.tenant, user=user)
        form_data = data if data is not None else {"origin": "same_municipality", "notes": "Dati verificati allo sportello"}
        work_item_complete(work_item_id=item.pk, tenant=case.tenant, user=user, data=form_data)
