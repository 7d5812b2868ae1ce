from rest_framework.routers import SimpleRouter

from .api import CaseViewSet, IncidentViewSet, TaskViewSet

router = SimpleRouter()
router.register("cases", CaseViewSet, basename="case")
router.register("tasks", TaskViewSet, basename="task")
router.register("incidents", IncidentViewSet, basename="incident")

urlpatterns = router.urls
