from django.urls import path

from activity import views

app_name = "activity"

urlpatterns = [
    path("", views.run_list, name="run-list"),
    path("datastores/<int:datastore_id>/", views.run_list, name="datastore-runs"),
    path("live/", views.live, name="live"),
    path("launch/", views.launch, name="launch"),
    path("containers/<int:container_id>/external-scan/", views.external_scan, name="external-scan"),
    path("runs/<int:pk>/", views.run_detail, name="run-detail"),
    path("runs/<int:pk>/log.txt", views.log_download, name="run-log"),
    path("runs/<int:pk>/containers/<int:unit_id>/log/", views.unit_log, name="unit-log"),
    path("runs/<int:pk>/abort/", views.run_abort, name="run-abort"),
    path("runs/<int:pk>/resume/", views.run_resume, name="run-resume"),
    path("runs/<int:pk>/rerun/", views.run_rerun, name="run-rerun"),
    path("runs/<int:pk>/delete/", views.run_delete, name="run-delete"),
]
