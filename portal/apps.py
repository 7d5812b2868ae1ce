from django.apps import AppConfig


class PortalConfig(AppConfig):
    name = "portal"
    verbose_name = "Area personale del cittadino"

    def ready(self) -> None:
        from cases.signals import case_progressed

        from .tasks import on_case_progressed

        case_progressed.connect(on_case_progressed, dispatch_uid="portal.milestones")
