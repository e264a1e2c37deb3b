from django.conf import settings
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required
from django.urls import include, path
from django.views.generic import RedirectView

from api import main as api

admin.site.site_header = "Runboard administration"
admin.site.site_title = "Runboard admin"

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="activity:run-list"), name="home"),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    # The unhashed name: WhiteNoise serves it too, and nothing is looked up at import time.
    path(
        "favicon.ico",
        login_not_required(RedirectView.as_view(url=f"{settings.STATIC_URL}images/logo.svg")),
    ),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("api/", api.urlpatterns()),
    path("account/", include("accounts.urls")),
    path("schedules/", include("schedules.urls")),
    path("activity/", include("activity.urls")),
    path("", include("catalog.urls")),
]
