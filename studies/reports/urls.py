"""Report URLs, mounted at the site root by ``viewerproject.urls``."""

from django.urls import path

from studies.reports import views

app_name = "reports"
urlpatterns = [
    path("studies/<str:study_uid>/reports/", views.report_list, name="list"),
    path(
        "studies/<str:study_uid>/reports/measurements",
        views.save_measurements,
        name="save-measurements",
    ),
    path(
        "studies/<str:study_uid>/reports/key-images", views.save_key_images, name="save-key-images"
    ),
    path("studies/<str:study_uid>/reports/saved.json", views.saved, name="saved"),
    path("studies/<str:study_uid>/reports/<str:sop_uid>/", views.report_detail, name="detail"),
]
