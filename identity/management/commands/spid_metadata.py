from django.core.management.base import BaseCommand

from identity.sp import metadata_xml


class Command(BaseCommand):
    help = "Print the signed SPID metadata of this service provider (to register it with AgID)."

    def add_arguments(self, parser):
        parser.add_argument("--profile", choices=["spid", "cie"], default="spid")

    def handle(self, *args, **options):
        self.stdout.write(metadata_xml(options["profile"]).decode())
