from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from engine.bundles import BundleError, read_bundle
from engine.registry import bundle_folders, process_version_publish


class Command(BaseCommand):
    help = "Publish processes/*/ as immutable process versions (a new version only when content changed)."

    def add_arguments(self, parser):
        parser.add_argument("--dir", help="folder holding the procedure folders (default: PROCEDO_PROCESSES_DIR)")

    def handle(self, *args, **options):
        folders = bundle_folders(Path(options["dir"]) if options["dir"] else None)
        if not folders:
            raise CommandError("Nessun procedimento trovato.")
        failed = False
        for folder in folders:
            try:
                outcome = process_version_publish(bundle=read_bundle(folder))
            except BundleError as exc:
                failed = True
                for problem in exc.problems:
                    self.stderr.write(self.style.ERROR(problem))
                continue
            state = "nuova versione" if outcome.created else "invariato"
            self.stdout.write(f"{outcome.process_id}: v{outcome.version} ({state})")
        if failed:
            raise CommandError("Alcuni procedimenti non sono validi: vedi sopra.")
