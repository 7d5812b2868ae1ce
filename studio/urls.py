from django.urls import path

from . import views

urlpatterns = [
    path("studio/", views.studio_home, name="studio_home"),
]
