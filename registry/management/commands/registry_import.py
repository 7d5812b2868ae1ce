"""manage.py registry_import DIR --tenant CODE [--commit] [--batch N] [--report-dir DIR]

Without --commit: the dry run (reconciliation report, nothing written to the register).
With --commit: writes in batches, resuming an interrupted run of the same files.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from accounts.models import Tenant
from common.errors import ProcedoError
from registry.legacy.importer import import_run
from registry.legacy.reconcile import ExportUnreadable


class Command(BaseCommand):
    help = "Import a legacy population-register export: dry run first, then --commit."

    def add_arguments(self, parser):
        parser.add_argument("folder")
        parser.add_argument("--tenant", required=True, help="ISTAT code or slug of the municipality")
        parser.add_argument("--commit", action="store_true", help="write to the register (after a dry run)")
        parser.add_argument("--batch", type=int, default=1000, help="rows per transaction")
        parser.add_argument("--report-dir", default=None)

    def handle(self, *args, **options):
        tenant = Tenant.objects.filter(istat_code=options["tenant"]).first() or \
            Tenant.objects.filter(slug=options["tenant"]).first()
        if tenant is None:
            raise CommandError(f"Ente sconosciuto: {options['tenant']}")
        folder = Path(options["folder"])
        if not folder.is_dir():
            raise CommandError(f"Cartella non trovata: {folder}")
        started = time.monotonic()
        show = self.stdout.isatty() if hasattr(self.stdout, "isatty") else False

        def progress(done: int, total: int, entity: str) -> None:
            width = 30
            filled = int(width * done / total) if total else width
            line = f"[{'#' * filled}{'.' * (width - filled)}] {done}/{total} lotti · {entity}"
            if show:
                sys.stdout.write("\r" + line)
                sys.stdout.flush()
            elif done == total or done % 10 == 0:
                self.stdout.write(line)

        try:
            run = import_run(tenant=tenant, folder=folder, commit=options["commit"], batch_size=options["batch"],
                             started_by="manage.py registry_import",
                             report_dir=Path(options["report_dir"]) if options["report_dir"] else None,
                             progress=progress)
        except ExportUnreadable as exc:
            raise CommandError(str(exc)) from exc
        except ProcedoError as exc:
            raise CommandError(exc.message) from exc
        if show and options["commit"]:
            sys.stdout.write("\n")
        self.stdout.write((Path(run.report_dir) / "riepilogo.txt").read_text(encoding="utf-8"))
        self.stdout.write(f"Rapporto in {run.report_dir} · {time.monotonic() - started:.1f} s")
