from django.urls import path

from . import views

urlpatterns = [
    path("", views.inbox, name="inbox"),
    path("compiti/assegna/", views.tasks_bulk_assign, name="tasks_bulk_assign"),
    path("compiti/assegnatari/", views.task_assignees, name="task_assignees"),
    path("compiti/<str:pk>/", views.task_detail, name="task_detail"),
    path("compiti/<str:pk>/presa-in-carico/", views.task_claim, name="task_claim"),
    path("compiti/<str:pk>/assegna/", views.task_assign, name="task_assign"),
    path("pratiche/", views.case_list, name="case_list"),
    path("pratiche/nuova/", views.case_new, name="case_new"),
    path("pratiche/nuova/<slug:process_id>/", views.case_new_form, name="case_new_form"),
    path("pratiche/<str:pk>/", views.case_detail, name="case_detail"),
    path("pratiche/<str:pk>/diagramma.bpmn", views.case_diagram, name="case_diagram"),
    path("squadra/", views.team, name="team"),
    path("filtri/", views.saved_filters, name="saved_filters"),
    path("filtri/<str:pk>/", views.saved_filter_change, name="saved_filter_change"),
    path("ente/", views.switch_tenant, name="switch_tenant"),
    path("sessione/", views.session_keepalive, name="session_keepalive"),
]
