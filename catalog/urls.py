from django.urls import path

from catalog import views

app_name = "catalog"

urlpatterns = [
    path("datastores/", views.datastore_list, name="datastore-list"),
    path("datastores/<int:pk>/", views.datastore_detail, name="datastore-detail"),
    path("containers/", views.container_list, name="container-list"),
    path("containers/<int:pk>/", views.container_detail, name="container-detail"),
    path("checks/", views.check_list, name="check-list"),
    path("checks/<int:pk>/", views.check_detail, name="check-detail"),
    path("anomalies/", views.anomaly_list, name="anomaly-list"),
    path("anomalies/<int:pk>/", views.anomaly_detail, name="anomaly-detail"),
]
