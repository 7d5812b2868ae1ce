from django.urls import path

from . import views

urlpatterns = [
    path("comuni/", views.municipality_options, name="municipality_options"),
]
