"""Demo register: a small synthetic legacy export imported into every tenant whose register is empty."""

from __future__ import annotations

import tempfile
from pathlib import Path

from django.core.management.base import BaseCommand

from accounts.models import Tenant
from registry.legacy.generate import generate
from registry.legacy.importer import import_run
from registry.models import Person


class Command(BaseCommand):
    help = "Import a synthetic legacy export (dry run, then commit) into each tenant with an empty register."

    def add_arguments(self, parser):
        parser.add_argument("--people", type=int, default=500)
        parser.add_argument("--households", type=int, default=200)

    def handle(self, *args, **options):
        for index, tenant in enumerate(Tenant.objects.filter(is_active=True).order_by("pk")):
            if Person.objects.for_tenant(tenant).exists():
                continue
            with tempfile.TemporaryDirectory(prefix="procedo-registry-") as tmp:
                folder = Path(tmp) / "export"
                generate(folder, people=options["people"], households=options["households"], seed=100 + index,
                         municipality_istat=tenant.istat_code, belfiore=tenant.belfiore_code)
                import_run(tenant=tenant, folder=folder, started_by="load_demo")
                run = import_run(tenant=tenant, folder=folder, commit=True, started_by="load_demo")
            people = run.counts["people"]["accepted"]
            self.stdout.write(f"{tenant.name}: anagrafe di esempio con {people} persone (importazione n. {run.pk})")
