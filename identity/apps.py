from django.apps import AppConfig


class IdentityConfig(AppConfig):
    """Citizens' login with the national digital identities (SPID, CIE, eIDAS) as a SAML2 service provider.

    Sits at the level of `accounts`: it may use accounts, audit and common, nothing above them."""

    name = "identity"
    verbose_name = "Identità digitali"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import checks  # noqa: F401  (registers the system check)
