"""Demo malfunction tickets and a support user on every demo municipality (called by load_demo)."""

from django.core.management.base import BaseCommand

from accounts.demo import DEMO_TENANTS
from accounts.models import Tenant


class Command(BaseCommand):
    help = "Add sample malfunction tickets and the user support.<slug> (password demo) to each demo municipality."

    def handle(self, *args, **options):
        from support.demo import load_demo_tickets

        for tenant in Tenant.objects.filter(slug__in=[t[1] for t in DEMO_TENANTS]):
            added = load_demo_tickets(tenant)
            if added:
                self.stdout.write(f"{tenant.name}: {added} segnalazioni di malfunzionamento (utente support.{tenant.slug})")
