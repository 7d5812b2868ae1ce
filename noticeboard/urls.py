"""Include from config/urls.py: path("", include("noticeboard.urls"))."""

from django.urls import path

from . import views

urlpatterns = [
    path("albo/<slug:slug>/", views.board, name="noticeboard"),
    path("albo/<slug:slug>/archivio/", views.archive, name="noticeboard_archive"),
    path("albo/<slug:slug>/<str:year>/<str:number>/", views.publication_page, name="noticeboard_publication"),
    path("albo/<slug:slug>/<str:year>/<str:number>/documento.pdf", views.publication_document,
         name="noticeboard_document"),
    path("albo/<slug:slug>/<str:year>/<str:number>/referto.pdf", views.publication_report,
         name="noticeboard_report"),
    path("gestione-albo/", views.office_list, name="noticeboard_office"),
    path("gestione-albo/nuova/", views.office_create, name="noticeboard_office_create"),
    path("gestione-albo/impostazioni/", views.office_settings, name="noticeboard_office_settings"),
    path("gestione-albo/<str:pk>/", views.office_detail, name="noticeboard_office_detail"),
    path("gestione-albo/<str:pk>/annulla/", views.office_withdraw, name="noticeboard_office_withdraw"),
]
