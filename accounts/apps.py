from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Enti e utenti"

    def ready(self) -> None:
        from . import receivers  # noqa: F401  (connects the login/logout audit receivers)
