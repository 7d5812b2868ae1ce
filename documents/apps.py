import importlib.util

from django.apps import AppConfig


class DocumentsConfig(AppConfig):
    name = "documents"
    verbose_name = "Documenti"

    def ready(self) -> None:
        if importlib.util.find_spec("documents.operations") is not None:
            importlib.import_module("documents.operations")
        importlib.import_module("documents.worker")  # Celery worker hooks (warm converters)

        from django.db.models.signals import post_save

        from accounts.models import Tenant

        post_save.connect(_seed_document_types, sender=Tenant, dispatch_uid="documents.seed_types")


def _seed_document_types(sender, instance, created, **kwargs) -> None:  # type: ignore[no-untyped-def]
    if created:
        from .services import document_types_seed

        document_types_seed(instance)
