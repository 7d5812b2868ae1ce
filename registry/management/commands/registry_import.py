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

DEFAULT_ANPR_SAMPLE = 20


class Command(BaseCommand):
    help = "Import a legacy population-register export: dry run first, then --commit."

    def add_arguments(self, parser):
        parser.add_argument("folder")
        parser.add_argument("--tenant", required=True, help="ISTAT code or slug of the municipality")
        parser.add_argument("--commit", action="store_true", help="write to the register (after a dry run)")
        parser.add_argument("--batch", type=int, default=1000, help="rows per transaction")
        parser.add_argument("--report-dir", default=None)
        parser.add_argument("--anpr-sample", type=int, default=None,
                            help="people looked up in ANPR to check the export (default 20 on the dry run, "
                                 "0 on --commit; 0: no check)")
        parser.add_argument("--background", action="store_true",
                            help="run it in a Celery worker; follow it on /anagrafe/importazioni/")

    def handle(self, *args, **options):
        tenant = Tenant.objects.filter(istat_code=options["tenant"]).first() or \
            Tenant.objects.filter(slug=options["tenant"]).first()
        if tenant is None:
            raise CommandError(f"Ente sconosciuto: {options['tenant']}")
        folder = Path(options["folder"])
        if not folder.is_dir():
            raise CommandError(f"Cartella non trovata: {folder}")
        if options["anpr_sample"] is None:
            options["anpr_sample"] = 0 if options["commit"] else DEFAULT_ANPR_SAMPLE
        if options["background"]:
            from registry.tasks import registry_import_task

            registry_import_task.delay(tenant.pk, str(folder.resolve()), options["commit"], options["batch"],
                                       options["anpr_sample"], "manage.py registry_import --background")
            self.stdout.write("Importazione affidata a un worker: segui l'avanzamento su /anagrafe/importazioni/")
            return
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
                             progress=progress, anpr_sample=options["anpr_sample"])
        except ExportUnreadable as exc:
            raise CommandError(str(exc)) from exc
        except ProcedoError as exc:
            raise CommandError(exc.message) from exc
        if show and options["commit"]:
            sys.stdout.write("\n")
        self.stdout.write((Path(run.report_dir) / "riepilogo.txt").read_text(encoding="utf-8"))
        self.stdout.write(f"Rapporto in {run.report_dir} · {time.monotonic() - started:.1f} s")
