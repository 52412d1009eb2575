from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from studies.health import healthz

admin.site.site_header = "DICOM viewer administration"
admin.site.site_title = "DICOM viewer admin"

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("dicomweb/", include("studies.dicomweb.urls")),
    path("pacs/", include("studies.pacs.urls")),
    path("export/", include("studies.export.urls")),
    path("", include("studies.launch.urls")),
    path("", include("studies.reports.urls")),
    path("", include("frontend.urls")),
]
