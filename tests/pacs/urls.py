"""The project's URLs with the PACS endpoints mounted at ``pacs/``, as the lead mounts them."""

from django.urls import include, path

from viewerproject.urls import urlpatterns as project_urlpatterns

urlpatterns = [path("pacs/", include("studies.pacs.urls")), *project_urlpatterns]
