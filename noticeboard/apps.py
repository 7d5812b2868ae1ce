import importlib

from django.apps import AppConfig


class NoticeboardConfig(AppConfig):
    name = "noticeboard"
    verbose_name = "Albo pretorio online"

    def ready(self) -> None:
        importlib.import_module("noticeboard.operations")  # registers noticeboard.publish
