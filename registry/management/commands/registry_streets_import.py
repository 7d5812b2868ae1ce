"""manage.py registry_streets_import FILE --tenant CODE: load the municipality's street register CSV.

Format (registry/README.md): codice_via;specie;denominazione;codice_anncsu;localita;data_istituzione;
data_soppressione (";" or ","). Valid rows are created or updated by code; refused rows are listed.
"""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from accounts.models import Tenant
from registry.services import street_register_import

MAX_BYTES = 20 * 1024 * 1024


class Command(BaseCommand):
    help = "Import the street register (stradario) of a municipality from its CSV."

    def add_arguments(self, parser):
        parser.add_argument("file")
        parser.add_argument("--tenant", required=True, help="ISTAT code or slug of the municipality")

    def handle(self, *args, **options):
        tenant = Tenant.objects.filter(istat_code=options["tenant"]).first() or \
            Tenant.objects.filter(slug=options["tenant"]).first()
        if tenant is None:
            raise CommandError(f"Ente sconosciuto: {options['tenant']}")
        path = Path(options["file"])
        if not path.is_file() or path.stat().st_size > MAX_BYTES:
            raise CommandError("File non trovato o più grande di 20 MB.")
        raw = path.read_bytes()
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            text = raw.decode("cp1252", errors="replace")  # exports of older office software
        result = street_register_import(tenant=tenant, actor=None, text=text)
        for line, message in result.errors:
            self.stdout.write(f"riga {line}: {message}")
        self.stdout.write(f"Vie create: {result.created}, aggiornate: {result.updated}, righe scartate: {len(result.errors)}")
