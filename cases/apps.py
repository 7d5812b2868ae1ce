import importlib

from django.apps import AppConfig


class CasesConfig(AppConfig):
    name = "cases"
    verbose_name = "Pratiche"

    def ready(self) -> None:
        importlib.import_module("cases.operations")  # registers notify.citizen
