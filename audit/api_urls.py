from rest_framework.routers import SimpleRouter

from .api import AuditViewSet

router = SimpleRouter()
router.register("audit", AuditViewSet, basename="audit")

urlpatterns = router.urls
