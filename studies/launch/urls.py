"""EMR launch URLs, mounted at the site root by ``viewerproject.urls``:
``/IHEInvokeImageDisplay`` (IHE RAD-106) and the launch session page."""

from django.urls import path

from studies.launch import views

app_name = "launch"
urlpatterns = [
    path("IHEInvokeImageDisplay", views.invoke_image_display, name="invoke"),
    path("launch/", views.session_page, name="session"),
    path("launch/retrieve", views.retrieve_prior, name="retrieve"),
]
