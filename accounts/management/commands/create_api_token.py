from django.core.management.base import BaseCommand, CommandError
from rest_framework.authtoken.models import Token

from accounts import security
from accounts.models import User


class Command(BaseCommand):
    help = ("Print the API token of USER (a new one if missing or expired). Use it as `Authorization: Token "
            "<token>`; it expires after PROCEDO_API_TOKEN_TTL_DAYS.")

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--rotate", action="store_true", help="replace the existing token with a new one")

    def handle(self, *args, username: str, rotate: bool, **options):
        user = User.objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"Utente sconosciuto: {username}")
        token = Token.objects.filter(user=user).first()
        if rotate or token is None or security.token_expired(token.created):
            token = security.token_issue(user=user)
        self.stdout.write(token.key)
        self.stderr.write(f"scade il {security.token_expires_at(token.created):%Y-%m-%d %H:%M %Z}")
