import importlib
import pkgutil
from pathlib import Path

from django.apps import AppConfig


class ConnectorsConfig(AppConfig):
    name = "connectors"
    verbose_name = "Connettori"

    def ready(self) -> None:
        from common.operations import use_result_store

        from .base.idempotency import OperationResultStore

        # Operations declared with remember=True keep their results in the OperationResult table.
        use_result_store(OperationResultStore())
        # Every connectors/<platform>/operations.py registers its operations.
        for info in pkgutil.iter_modules([str(Path(__file__).parent)]):
            if info.ispkg and (Path(__file__).parent / info.name / "operations.py").exists():
                importlib.import_module(f"connectors.{info.name}.operations")
