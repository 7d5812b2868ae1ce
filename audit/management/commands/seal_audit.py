from django.core.management.base import BaseCommand

from audit.services import audit_seal_chains


class Command(BaseCommand):
    help = "Seal the head of every audit chain now (beat does it every PROCEDO_AUDIT_SEAL_INTERVAL minutes)."

    def handle(self, *args, **options):
        seals = audit_seal_chains()
        for seal in seals:
            self.stdout.write(f"sigillo: catena {seal.chain_key} seq {seal.seq} {seal.hash[:16]}…")
        self.stdout.write(self.style.SUCCESS(f"OK: {len(seals)} catene sigillate"))
