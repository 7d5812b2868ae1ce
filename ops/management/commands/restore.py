from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from ops.services import BackupError, backup_restore


class Command(BaseCommand):
    help = ("Restore an archive of `backup` into the EMPTY database of DATABASE_URL and into the configured "
            "document storage and key folders, then verify counts, document hashes, audit chains and "
            "credentials. Exit 1 if any check fails.")

    def add_arguments(self, parser):
        parser.add_argument("archive")
        parser.add_argument("--force", action="store_true",
                            help="replace the content of a non-empty database and keys that differ")

    def handle(self, *args, **options):
        try:
            report = backup_restore(archive=Path(options["archive"]), force=options["force"])
        except BackupError as exc:
            raise CommandError(exc.message) from exc
        counts = report.counts.get("tenants", {})
        timing = ", ".join(f"{k} {v:.1f} s" for k, v in report.seconds.items())
        summary = (f"{sum(c['cases'] for c in counts.values())} pratiche, {report.documents_checked} documenti "
                   f"verificati, {report.audit_events_checked} eventi di audit verificati ({timing})")
        if report.ok:
            self.stdout.write(self.style.SUCCESS(f"Ripristino verificato: {summary}"))
            return
        for problem in report.problems:
            self.stderr.write(self.style.ERROR(problem))
        raise CommandError(f"Ripristino NON verificato ({len(report.problems)} problemi): {summary}")
