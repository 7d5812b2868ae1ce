import importlib.util

from django.apps import AppConfig


class DocumentsConfig(AppConfig):
    name = "documents"
    verbose_name = "Documenti"

    def ready(self) -> None:
        if importlib.util.find_spec("documents.operations") is not None:
            importlib.import_module("documents.operations")
        importlib.import_module("documents.worker")  # Celery worker hooks (warm converters)
