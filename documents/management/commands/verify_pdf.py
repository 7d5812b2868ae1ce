"""manage.py verify_pdf FILE [--trust CA.pem]: validate the PAdES signatures of a PDF."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from documents.errors import FileRejected
from documents.verify import verify_pdf


class Command(BaseCommand):
    help = "Validate the signatures of a PDF: level, signer, timestamp, integrity."

    def add_arguments(self, parser):  # type: ignore[no-untyped-def]
        parser.add_argument("file")
        parser.add_argument("--trust", action="append", default=[], help="PEM/DER of a trusted root")

    def handle(self, *args, **opts):  # type: ignore[no-untyped-def]
        import logging

        from pyhanko.keys import load_cert_from_pemder

        # pyHanko logs a traceback for every untrusted chain; the report says it already.
        logging.getLogger("pyhanko").setLevel(logging.CRITICAL)
        path = Path(opts["file"])
        if not path.is_file():
            raise CommandError(f"file not found: {path}")
        roots = [load_cert_from_pemder(p) for p in opts["trust"]]
        try:
            reports = verify_pdf(path.read_bytes(), trust_roots=roots)
        except FileRejected as exc:
            raise CommandError(exc.message) from exc
        if not reports:
            self.stdout.write("no signatures")
            raise CommandError("the PDF is not signed")
        for r in reports:
            self.stdout.write(f"signature: {r.field}")
            self.stdout.write(f"  signer: {r.signer}")
            self.stdout.write(f"  level: PAdES {r.level}")
            self.stdout.write(f"  signing time: {r.signing_time.isoformat() if r.signing_time else '-'}")
            self.stdout.write(f"  timestamp: {r.timestamp.isoformat() if r.timestamp else '-'}")
            self.stdout.write(f"  integrity: {'intact' if r.intact else 'ALTERED'}")
            self.stdout.write(f"  valid: {'yes' if r.valid else 'no'}; trusted: {'yes' if r.trusted else 'no'}")
            self.stdout.write(f"  covers whole document: {'yes' if r.covers_whole_document else 'no'}")
