"""JSON endpoints for the UI; mounted at ``pacs/`` (see views for each)."""

from django.urls import path

from studies.pacs import views

app_name = "pacs"
urlpatterns = [
    path("nodes/", views.nodes, name="nodes"),
    path("nodes/<slug:name>/search", views.search, name="search"),
    path("priors", views.priors, name="priors"),
    path("retrieve", views.retrieve, name="retrieve"),
    path("jobs/", views.job_list, name="jobs"),
    path("jobs/<int:job_id>", views.job_detail, name="job"),
    path("jobs/<int:job_id>/cancel", views.job_cancel, name="job-cancel"),
]
