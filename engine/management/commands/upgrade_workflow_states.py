from django.core.management.base import BaseCommand, CommandError

from engine.state_migrations import CURRENT_VERSION
from engine.state_migrations.upgrade import instances_by_state_version, upgrade_all


class Command(BaseCommand):
    help = "Rewrite stored workflow states written in an older format in the current one (see engine/state_migrations)."

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="only count the instances per stored version")
        parser.add_argument("--limit", type=int, default=None, help="upgrade at most this many instances")

    def handle(self, *args, **options):
        for version, count in instances_by_state_version().items():
            mark = "attuale" if version == CURRENT_VERSION else "da aggiornare"
            self.stdout.write(f"{version}: {count} istanze ({mark})")
        if options["dry_run"]:
            return
        report = upgrade_all(limit=options["limit"])
        self.stdout.write(f"Aggiornate {report.upgraded} istanze al formato {CURRENT_VERSION}.")
        for pk, version in report.refused.items():
            self.stderr.write(self.style.ERROR(f"istanza {pk}: formato {version} sconosciuto, lasciata com'è"))
        if report.refused:
            raise CommandError("Alcune istanze sono in un formato che questa versione non sa leggere: vedi sopra.")
