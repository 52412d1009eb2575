"""Mounted at ``export/``."""

from django.urls import path

from studies.export import views

app_name = "export"
urlpatterns = [
    path("studies/<str:study_instance_uid>.zip", views.study_export, name="study-zip"),
]
