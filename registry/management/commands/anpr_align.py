"""manage.py anpr_align --tenant <ISTAT|slug> [--limit N]: compare the local register with ANPR."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from accounts.models import Tenant
from registry.alignment import alignment_run


class Command(BaseCommand):
    help = "Confronta l'anagrafe locale con ANPR (C020/C021) ed elenca le differenze con la correzione proposta."

    def add_arguments(self, parser):
        parser.add_argument("--tenant", required=True, help="codice ISTAT o slug del comune")
        parser.add_argument("--limit", type=int, default=None, help="al massimo N residenti")

    def handle(self, *args, **options):
        tenant = (Tenant.objects.filter(istat_code=options["tenant"]).first()
                  or Tenant.objects.filter(slug=options["tenant"]).first())
        if tenant is None:
            raise CommandError(f"tenant not found: {options['tenant']}")
        if options["limit"] is not None and options["limit"] < 1:
            raise CommandError("--limit must be positive")

        def progress(done: int, total: int) -> None:
            if done == total or done % 50 == 0:
                self.stdout.write(f"\r{done}/{total}", ending="")
                self.stdout.flush()

        run = alignment_run(tenant=tenant, limit=options["limit"], started_by="manage.py anpr_align", progress=progress)
        self.stdout.write("")
        differences = list(run.differences.select_related("person").order_by("person_id", "id"))
        for d in differences:
            self.stdout.write(f"{d.person.fiscal_code or d.person_id}\t{d.field}\tlocale={d.local_value!r}\t"
                              f"ANPR={d.anpr_value!r}\t{d.fix}\t{d.message}")
        self.stdout.write(self.style.SUCCESS(
            f"run {run.pk}: {run.checked} people checked, {run.lookups} lookups, {len(differences)} differences"
            + (f", errors:\n{run.error}" if run.error else "")))
