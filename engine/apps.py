from django.apps import AppConfig


class EngineConfig(AppConfig):
    name = "engine"
    verbose_name = "Motore BPMN"

    def ready(self) -> None:
        from . import checks  # noqa: F401  (registers the process-bundle system checks)
