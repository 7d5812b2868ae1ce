"""Demo publications on the notice board of every demo municipality (called by load_demo)."""

from django.core.management.base import BaseCommand

from accounts.demo import DEMO_TENANTS
from accounts.models import Tenant


class Command(BaseCommand):
    help = "Add sample publications (current, ended, scheduled) to each demo municipality's notice board."

    def handle(self, *args, **options):
        from noticeboard.demo import load_demo_publications

        for tenant in Tenant.objects.filter(slug__in=[t[1] for t in DEMO_TENANTS]):
            added = load_demo_publications(tenant)
            if added:
                self.stdout.write(f"{tenant.name}: {added} pubblicazioni all'albo (/albo/{tenant.slug}/)")
