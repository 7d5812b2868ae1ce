"""Demo register: a small synthetic legacy export imported into every tenant whose register is empty,
and a few closed civil-status acts (a birth, a marriage with a divorce annotation, a death, a civil
union with witnesses) so that every certificate of the counter can be issued in the demo."""

from __future__ import annotations

import datetime as dt
import tempfile
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db.models import Count

from accounts.models import Tenant
from registry.civil_status.services import act_register, annotation_add
from registry.demo import demo_residents_ensure
from registry.legacy.generate import generate
from registry.legacy.importer import import_run
from registry.models import CivilAct, CivilActParty, Person

DEMO_TEXT = "Atto di esempio (dati dimostrativi)."


class Command(BaseCommand):
    help = "Import a synthetic legacy export (dry run, then commit) into each tenant with an empty register."

    def add_arguments(self, parser):
        parser.add_argument("--people", type=int, default=500)
        parser.add_argument("--households", type=int, default=200)

    def handle(self, *args, **options):
        for index, tenant in enumerate(Tenant.objects.filter(is_active=True).order_by("pk")):
            if Person.objects.for_tenant(tenant).exists():
                self._demo_acts(tenant)
                continue
            with tempfile.TemporaryDirectory(prefix="procedo-registry-") as tmp:
                folder = Path(tmp) / "export"
                generate(folder, people=options["people"], households=options["households"], seed=100 + index,
                         municipality_istat=tenant.istat_code, belfiore=tenant.belfiore_code)
                import_run(tenant=tenant, folder=folder, started_by="load_demo")
                run = import_run(tenant=tenant, folder=folder, commit=True, started_by="load_demo")
            people = run.counts["people"]["accepted"]
            self.stdout.write(f"{tenant.name}: anagrafe di esempio con {people} persone (importazione n. {run.pk})")
            self._demo_acts(tenant)
        self._demo_residents()

    def _demo_residents(self) -> None:
        """The demo IdP's people live in the municipality the demo's SPID login serves (Capannori)."""
        active = Tenant.objects.filter(is_active=True).order_by("pk")
        tenant = active.filter(slug=settings.PROCEDO_SPID_TENANT or "capannori").first() or active.first()
        if tenant is None:
            return
        people = demo_residents_ensure(tenant=tenant)
        if people:
            self.stdout.write(f"{tenant.name}: residenti delle identità SPID di prova "
                              f"({', '.join(p.fiscal_code for p in people)})")

    def _demo_acts(self, tenant) -> None:
        """Once per tenant: acts about living people named in no act yet."""
        if CivilAct.objects.for_tenant(tenant).filter(text=DEMO_TEXT).exists():
            return
        # the synthetic export marries most people (thirty years of marriages): take those named in
        # the fewest acts, so that the person sheet finds the demo act alone where possible
        ended = CivilActParty.objects.filter(tenant=tenant, act__kind__in=["civil_union", "death"])
        free = (Person.objects.for_tenant(tenant).filter(death_date__isnull=True, birth_date__lt=dt.date(2000, 1, 1))
                .exclude(pk__in=ended.values("person_id")).exclude(family_name="")
                .annotate(acts=Count("act_parties")).order_by("acts", "pk"))
        men, women = list(free.filter(sex="M")[:4]), list(free.filter(sex="F")[:3])
        if len(men) < 4 or len(women) < 3:
            self.stdout.write(f"{tenant.name}: troppo poche persone per gli atti di esempio")
            return
        with_birth_act = CivilActParty.objects.filter(tenant=tenant, act__kind="birth").values("person_id")
        born = (Person.objects.for_tenant(tenant).filter(death_date__isnull=True).exclude(pk__in=with_birth_act)
                .exclude(family_name="").order_by("pk").first()) or women[0]
        common = {"tenant": tenant, "actor": None, "office": tenant.name, "officer": "Ufficiale dello stato civile",
                  "text": DEMO_TEXT}
        act_register(**common, kind="birth", act_date=born.birth_date + dt.timedelta(days=2),
                     data={"birth_date": born.birth_date.isoformat(), "birth_time": "10:15",
                           "birth_place": tenant.name.removeprefix("Comune di "), "sex": born.sex,
                           "family_name": born.family_name, "given_name": born.given_name},
                     parties=[(born.pk, "subject")])
        marriage = act_register(**common, kind="marriage", act_date=dt.date(2012, 5, 19),
                                data={"marriage_date": "2012-05-19", "marriage_place": tenant.name.removeprefix(
                                    "Comune di "), "rite": "civil", "property_regime": "separation",
                                      "witnesses": ["BIANCHI ALDO", "ROSSI ELENA"]},
                                parties=[(men[0].pk, "spouse"), (women[1].pk, "spouse")])
        annotation_add(tenant=tenant, actor=None, act_id=marriage.pk, kind="divorce", date=dt.date(2020, 10, 2),
                       authority="Tribunale di Lucca", reference="sentenza n. 1234/2020",
                       text="Cessazione degli effetti civili del matrimonio.")
        act_register(**common, kind="civil_union", act_date=dt.date(2019, 9, 14),
                     data={"union_date": "2019-09-14", "union_place": tenant.name.removeprefix("Comune di "),
                           "common_surname": men[1].family_name, "witnesses": ["VERDI PAOLO", "NERI GIULIA"]},
                     parties=[(men[1].pk, "partner"), (men[2].pk, "partner")])
        died = dt.date(2025, 1, 12)
        act_register(**common, kind="death", act_date=died + dt.timedelta(days=1),
                     data={"death_date": died.isoformat(), "death_time": "06:40",
                           "death_place": tenant.name.removeprefix("Comune di ")},
                     parties=[(men[3].pk, "deceased")])
        self.stdout.write(f"{tenant.name}: atti di stato civile di esempio (nascita, matrimonio con divorzio, unione "
                          f"civile, morte)")
