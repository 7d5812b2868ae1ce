from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "audit"
    verbose_name = "Registro di audit"

    def ready(self) -> None:
        from django.db.models.signals import post_save

        from accounts.models import Tenant

        from .receivers import tenant_created

        post_save.connect(tenant_created, sender=Tenant, dispatch_uid="audit.tenant_chain_heads")
