from django.core.management.base import BaseCommand, CommandError
from rest_framework.authtoken.models import Token

from accounts.models import User


class Command(BaseCommand):
    help = "Print the API token of USER (created if missing). Use it as `Authorization: Token <token>`."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--rotate", action="store_true", help="replace the existing token with a new one")

    def handle(self, *args, username: str, rotate: bool, **options):
        user = User.objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"Utente sconosciuto: {username}")
        if rotate:
            Token.objects.filter(user=user).delete()
        token, _ = Token.objects.get_or_create(user=user)
        self.stdout.write(token.key)
