from django.apps import AppConfig


class EngineConfig(AppConfig):
    name = "engine"
    verbose_name = "Motore BPMN"

    def ready(self) -> None:
        import importlib
        import os

        from . import checks  # noqa: F401  (registers the process-bundle system checks)

        # Plug-in operations outside the shipped apps (comma-separated module paths).
        for module in filter(None, os.environ.get("PROCEDO_EXTRA_OPERATION_MODULES", "").split(",")):
            importlib.import_module(module.strip())
