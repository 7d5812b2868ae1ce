from django.urls import include, path

from . import views

# The same addresses (and URL names) the pages had when they lived in accounts: bookmarks keep working.
urlpatterns = [
    path("amministrazione/", views.admin_home, name="admin_home"),
    path("amministrazione/utenti/", views.admin_users, name="admin_users"),
    path("amministrazione/utenti/nuovo/", views.admin_user_create, name="admin_user_create"),
    path("amministrazione/utenti/<str:pk>/", views.admin_user_detail, name="admin_user_detail"),
    path("amministrazione/utenti/<str:pk>/ruoli/", views.admin_user_roles, name="admin_user_roles"),
    path("amministrazione/utenti/<str:pk>/accesso/", views.admin_user_active, name="admin_user_active"),
    path("amministrazione/utenti/<str:pk>/password/", views.admin_user_password, name="admin_user_password"),
    path("amministrazione/incidenti/", views.admin_incidents, name="admin_incidents"),
    path("amministrazione/incidenti/<str:pk>/riprova/", views.admin_incident_retry, name="admin_incident_retry"),
    path("amministrazione/incidenti/<str:pk>/rimanda/", views.admin_incident_send_back,
         name="admin_incident_send_back"),
    path("amministrazione/ente/", views.admin_tenant, name="admin_tenant"),
    path("amministrazione/modelli/", views.admin_templates, name="admin_templates"),
    # Migration of running cases to another version of their process (issue 15).
    path("amministrazione/", include("backoffice.migration_urls")),
    path("amministrazione/procedimenti/", views.admin_process_settings, name="admin_process_settings"),
    path("amministrazione/procedimenti/<slug:process_id>/", views.admin_process_settings_edit,
         name="admin_process_settings_edit"),
]
