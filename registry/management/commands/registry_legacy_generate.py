"""manage.py registry_legacy_generate --people 10000 --households 4000 --out DIR [--seed N]"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from registry.legacy.generate import generate


class Command(BaseCommand):
    help = "Write a synthetic legacy export (format in registry/README.md) with the usual defects, seeded."

    def add_arguments(self, parser):
        parser.add_argument("--people", type=int, default=10_000)
        parser.add_argument("--households", type=int, default=4_000)
        parser.add_argument("--seed", type=int, default=13)
        parser.add_argument("--out", required=True)
        parser.add_argument("--municipality", default="046007", help="ISTAT code of the municipality")
        parser.add_argument("--belfiore", default="B648", help="its Belfiore code (fiscal codes of people born there)")

    def handle(self, *args, **options):
        if not 1 <= options["households"] <= options["people"] <= 1_000_000:
            raise CommandError("Serve 1 <= famiglie <= persone <= 1.000.000.")
        summary = generate(Path(options["out"]), people=options["people"], households=options["households"],
                           seed=options["seed"], municipality_istat=options["municipality"], belfiore=options["belfiore"])
        for entity, n in summary["counts"].items():
            self.stdout.write(f"{entity}: {n}")
        defects = Counter(f"{d['entity']}/{d['reason']}" for d in summary["defects"])
        self.stdout.write("Difetti inseriti: " + ", ".join(f"{k} {v}" for k, v in sorted(defects.items())))
