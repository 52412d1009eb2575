from django.urls import path

from frontend import views

app_name = "frontend"
urlpatterns = [
    path("", views.study_list, name="study-list"),
    # The UID is checked against PS3.5 9.1 in the view, so a malformed one gets a clear 400.
    path("studies/<str:study_instance_uid>/", views.study_detail, name="study-detail"),
    path("studies/<str:study_instance_uid>/view/", views.study_viewer, name="study-viewer"),
    path("upload/", views.upload_page, name="upload"),
    path("upload/files/", views.upload_files, name="upload-files"),
]
