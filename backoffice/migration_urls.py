"""Addresses of the migration pages (included by backoffice/urls.py under /amministrazione/)."""

from django.urls import path

from . import migration_views as views

urlpatterns = [
    path("migrazioni/", views.migration_plans, name="migration_plans"),
    path("migrazioni/nuovo/", views.migration_plan_create, name="migration_plan_create"),
    path("migrazioni/<str:pk>/", views.migration_plan, name="migration_plan"),
    path("migrazioni/<str:pk>/lotti/", views.migration_batch_launch, name="migration_batch_launch"),
    path("migrazioni/lotti/<str:pk>/", views.migration_batch, name="migration_batch"),
    path("migrazioni/lotti/<str:pk>/avanzamento/", views.migration_batch_progress, name="migration_batch_progress"),
    path("migrazioni/risultati/<str:pk>/ripristina/", views.migration_result_revert, name="migration_result_revert"),
]
