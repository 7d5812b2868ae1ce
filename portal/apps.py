from django.apps import AppConfig


class PortalConfig(AppConfig):
    name = "portal"
    verbose_name = "Area personale del cittadino"

    def ready(self) -> None:
        from django.db.models.signals import post_save

        from cases.signals import case_progressed, subject_watches

        from .models import CitizenProfile
        from .signals import OptedInCitizens, profile_saved
        from .tasks import on_case_progressed

        case_progressed.connect(on_case_progressed, dispatch_uid="portal.milestones")
        if not any(isinstance(w, OptedInCitizens) for w in subject_watches):
            subject_watches.append(OptedInCitizens())
        post_save.connect(profile_saved, sender=CitizenProfile, dispatch_uid="portal.watch_cases")
