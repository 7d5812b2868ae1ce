from django.urls import include, path

from . import views

urlpatterns = [
    path("studio/", views.studio_home, name="studio_home"),
    path("studio/bozze/nuova/", views.draft_new, name="studio_draft_new"),
    path("studio/importa/", views.draft_import, name="studio_import"),
    path("studio/bozze/<str:pk>/", views.draft_detail, name="studio_draft"),
    path("studio/bozze/<str:pk>/modifica/", views.draft_editor, name="studio_draft_editor"),
    path("studio/bozze/<str:pk>/modulo/", views.draft_form_editor, name="studio_draft_form_editor"),
    path("studio/bozze/<str:pk>/testo/", views.draft_file_page, name="studio_draft_file_page"),
    path("studio/bozze/<str:pk>/richiesta/", views.draft_request, name="studio_draft_request"),
    path("studio/bozze/<str:pk>/scarta/", views.draft_discard, name="studio_draft_discard"),
    path("studio/bozze/<str:pk>/aggiornamento/", views.draft_take_update, name="studio_draft_take_update"),
    path("studio/bozze/<str:pk>/esporta/", views.draft_export, name="studio_draft_export"),
    path("studio/bozze/<str:pk>/diagramma/", views.draft_diagram, name="studio_draft_diagram"),
    # The editor's JSON contract (templates/studio/editor.html).
    path("studio/bozze/<str:pk>/file/", views.draft_file, name="studio_draft_file"),
    path("studio/bozze/<str:pk>/valida/", views.draft_validate, name="studio_draft_validate"),
    path("studio/bozze/<str:pk>/tavolozza/", views.draft_palette, name="studio_draft_palette"),
    path("studio/bozze/<str:pk>/espressione/", views.draft_expression, name="studio_draft_expression"),
    path("studio/approvazioni/", views.approvals, name="studio_approvals"),
    path("studio/approvazioni/<str:pk>/", views.approval_detail, name="studio_approval"),
    path("studio/approvazioni/<str:pk>/<str:decision>/", views.approval_decide, name="studio_approval_decide"),
    path("studio/procedimenti/<str:process_id>/versioni/", views.version_history, name="studio_versions"),
    path("studio/versioni/<str:pk>/esporta/", views.version_export, name="studio_version_export"),
    path("studio/versioni/<str:pk>/diagramma/", views.version_diagram, name="studio_version_diagram"),
    path("studio/differenze/", views.version_diff, name="studio_diff"),
    # Form preview, widget palette, deed templates check, scenario runs and recording.
    path("studio/", include("studio.urls_tools")),
]
