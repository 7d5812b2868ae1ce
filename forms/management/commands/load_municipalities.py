"""manage.py load_municipalities [--csv PATH]: (re)load ANPR's archive of municipalities."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from forms.models import Municipality
from forms.municipalities import archive_path, load_archive


class Command(BaseCommand):
    help = "Carica l'archivio ANPR dei comuni (attuali e cessati) da ANPR_archivio_comuni.csv"

    def add_arguments(self, parser) -> None:
        parser.add_argument("--csv", help="percorso del file (predefinito: l'archivio ANPR fornito con il prodotto, forms/data/)")

    def handle(self, *args, **options) -> None:
        path = Path(options["csv"]) if options.get("csv") else archive_path()
        if not path.is_file():
            raise CommandError(f"File non trovato: {path}")
        try:
            count = load_archive(Municipality, path)
        except (KeyError, ValueError) as exc:
            raise CommandError(f"Il file {path} non ha il formato dell'archivio ANPR dei comuni: {exc}") from exc
        current = Municipality.objects.filter(current=True).count()
        self.stdout.write(f"{count} righe caricate ({current} comuni in vigore).")
