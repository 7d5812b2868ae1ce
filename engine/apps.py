from django.apps import AppConfig


class EngineConfig(AppConfig):
    name = "engine"
    verbose_name = "Motore BPMN"

    def ready(self) -> None:
        import importlib

        from django.conf import settings

        from . import checks  # noqa: F401  (registers the process-bundle system checks)

        # Plug-in operations outside the shipped apps (comma-separated module paths).
        for module in settings.PROCEDO_EXTRA_OPERATION_MODULES:
            importlib.import_module(module.strip())
