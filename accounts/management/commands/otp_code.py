"""Print the current TOTP code of a user's confirmed device: demo and test modes only (a newcomer
trying the demo without an authenticator app). Refused in production."""

from __future__ import annotations

import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django_otp.oath import totp

from accounts import security
from accounts.models import User


class Command(BaseCommand):
    help = "Demo only: print the current 6-digit code of USER's authenticator (second factor)."

    def add_arguments(self, parser):
        parser.add_argument("username")

    def handle(self, *args, username: str, **options):
        if settings.PROCEDO_ENV not in ("demo", "test"):
            raise CommandError("otp_code is for the demo (PROCEDO_ENV=demo) only.")
        user = User.objects.filter(username=username).first()
        device = security.confirmed_device(user) if user else None
        if device is None:
            raise CommandError(f"{username}: nessun dispositivo a due fattori attivo.")
        code = totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits, drift=device.drift)
        self.stdout.write(f"{code:0{device.digits}d}  (valido ancora {device.step - int(time.time() - device.t0) % device.step} s)")
