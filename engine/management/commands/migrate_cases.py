"""Run a migration plan over the running cases of its source version, printing progress.

    manage.py migrate_cases --plan 12 --dry-run          # verdicts only, nothing changes
    manage.py migrate_cases --plan 12                    # migrate (as the plan's author)
    manage.py migrate_cases --plan 12 --task verify --status running
    manage.py migrate_cases --batch 40                   # resume a batch (e.g. queued while the broker was down)
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from common.errors import ValidationFailed
from engine import migration
from engine.models import BatchMode, CaseOutcome, MigrationBatch, MigrationPlan


class Command(BaseCommand):
    help = "Migrate running cases with a stored migration plan (or only check them with --dry-run)."

    def add_arguments(self, parser):
        parser.add_argument("--plan", type=int, help="id of the migration plan")
        parser.add_argument("--batch", type=int, help="resume this batch instead of creating one")
        parser.add_argument("--dry-run", action="store_true", help="verdicts only: no case changes")
        parser.add_argument("--task", default="", help="only cases at this task (element id of the source)")
        parser.add_argument("--status", action="append", choices=["running", "error"],
                            help="instance status to select (repeatable; default both)")
        parser.add_argument("--quiet-cases", action="store_true", help="print the progress line only")

    def handle(self, *args, **options):
        if options["batch"]:
            batch = MigrationBatch.objects.filter(pk=options["batch"]).select_related("plan").first()
            if batch is None:
                raise CommandError(f"Lotto {options['batch']} inesistente.")
        elif options["plan"]:
            plan = MigrationPlan.objects.filter(pk=options["plan"]).select_related("tenant", "created_by").first()
            if plan is None:
                raise CommandError(f"Piano {options['plan']} inesistente.")
            filters = {"current_task": options["task"], "statuses": options["status"] or []}
            try:
                batch = migration.batch_create(
                    plan=plan, user=plan.created_by, mode=BatchMode.DRY_RUN if options["dry_run"] else BatchMode.EXECUTE,
                    filters=filters, queue=False,
                )
            except ValidationFailed as exc:
                raise CommandError(exc.message) from exc
        else:
            raise CommandError("Indica --plan oppure --batch.")
        mode = "prova" if batch.mode == BatchMode.DRY_RUN else "migrazione"
        self.stdout.write(f"Lotto {batch.pk} ({mode}) del piano {batch.plan_id}: {batch.total} pratiche")

        def progress(current, result):
            if not options["quiet_cases"]:
                line = f"  {result.case_number or result.instance_id}: {result.get_outcome_display()}"
                if result.outcome in (CaseOutcome.REFUSED, CaseOutcome.FAILED, CaseOutcome.SKIPPED):
                    line += f" [{result.code}] {result.message}"
                self.stdout.write(line)
            self.stdout.write(f"[{current.processed}/{current.total}] {current.percent}%")

        batch = migration.batch_run(batch.pk, progress=progress)
        self.stdout.write(
            f"Concluso: {batch.ok} {'migrabili' if batch.mode == BatchMode.DRY_RUN else 'migrate'}, "
            f"{batch.refused} rifiutate, {batch.failed} non riuscite, {batch.skipped} escluse."
        )
