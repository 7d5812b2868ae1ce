"""h4's studio tools, included by studio/urls.py under /studio/."""

from django.urls import path

from . import views_tools as views

urlpatterns = [
    path("widget/", views.widget_palette, name="studio_widgets"),
    path("bozze/<str:draft>/anteprima-modulo/", views.form_preview, name="studio_form_preview"),
    path("bozze/<str:draft>/modelli/", views.templates_page, name="studio_templates"),
    path("bozze/<str:draft>/scenari/", views.scenarios_page, name="studio_scenarios"),
    path("bozze/<str:draft>/scenari/avvia/", views.scenarios_launch, name="studio_scenarios_launch"),
    path("bozze/<str:draft>/scenari/esecuzioni/<str:run>/", views.scenario_run, name="studio_scenario_run"),
    path("bozze/<str:draft>/scenari/registra/", views.recording_new, name="studio_recording_new"),
    path("bozze/<str:draft>/scenari/registrazioni/<str:run>/", views.recording_page, name="studio_recording"),
    path("bozze/<str:draft>/scenari/registrazioni/<str:run>/passo/", views.recording_action,
         name="studio_recording_action"),
    path("bozze/<str:draft>/scenari/registrazioni/<str:run>/annulla/", views.recording_undo,
         name="studio_recording_undo"),
    path("bozze/<str:draft>/scenari/registrazioni/<str:run>/salva/", views.recording_save,
         name="studio_recording_save"),
]
