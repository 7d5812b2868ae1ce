from django.apps import AppConfig


class RegistryConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "registry"
    verbose_name = "Anagrafe"

    def ready(self) -> None:
        # The local register follows ANPR's changes in the case's transaction (result effects).
        # registry.death_act_lookup is an engine operation.
        from . import anpr_effects, operations  # noqa: F401
