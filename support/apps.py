import importlib

from django.apps import AppConfig


class SupportConfig(AppConfig):
    name = "support"
    verbose_name = "Assistenza e SLA"

    def ready(self) -> None:
        importlib.import_module("support.operations")  # registers support.sla_terms
