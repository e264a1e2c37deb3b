from django.urls import path

from schedules import views

app_name = "schedules"

urlpatterns = [
    path("", views.schedule_list, name="schedule-list"),
    path("datastores/<int:datastore_id>/", views.schedule_list, name="datastore-schedules"),
    path("new/", views.schedule_edit, name="schedule-new"),
    path("preview/", views.schedule_preview, name="schedule-preview"),
    path("<int:pk>/", views.schedule_edit, name="schedule-detail"),
    path("<int:pk>/switch/", views.schedule_switch, name="schedule-switch"),
    path("<int:pk>/delete/", views.schedule_delete, name="schedule-delete"),
]
