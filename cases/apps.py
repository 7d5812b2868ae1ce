from django.apps import AppConfig


class CasesConfig(AppConfig):
    name = "cases"
    verbose_name = "Pratiche"

    def ready(self) -> None:
        from . import services

        services.register_engine_listener()
