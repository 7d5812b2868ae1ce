from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from ops.services import BackupError, backup_create


class Command(BaseCommand):
    help = ("Write one tar archive: pg_dump of DATABASE_URL, every document's bytes, the signing and PDND "
            "keys on disk, and a manifest (counts per tenant, sha256 of every file). Environment secrets "
            "(SECRET_KEY, PROCEDO_SECRETS_KEYS) are NOT included: keep them apart.")

    def add_arguments(self, parser):
        parser.add_argument("--output", required=True, help="folder (a dated file is created in it) or archive path")

    def handle(self, *args, **options):
        output = Path(options["output"])
        if options["output"].endswith(("/", "\\")):
            output.mkdir(parents=True, exist_ok=True)
        try:
            result = backup_create(output=output)
        except BackupError as exc:
            raise CommandError(exc.message) from exc
        counts = result.manifest["counts"]["tenants"]
        self.stdout.write(self.style.SUCCESS(
            f"Backup: {result.path} ({result.path.stat().st_size} byte, {len(result.manifest['files'])} file, "
            f"{sum(c['cases'] for c in counts.values())} pratiche, "
            f"{sum(c['documents'] for c in counts.values())} documenti) in {result.seconds:.1f} s"))
