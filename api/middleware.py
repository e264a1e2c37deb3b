from __future__ import annotations

from http import HTTPStatus

from django.http import JsonResponse


class JsonErrorsMiddleware:
    """Under /api/, an error Django answers itself (an unknown path, a method not allowed, a
    body too large, a 500) is JSON like the API's own, never an HTML page."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if (
            request.path.startswith("/api/")
            and response.status_code >= 400
            and not response.get("Content-Type", "").startswith("application/json")
        ):
            reason = HTTPStatus(response.status_code).phrase
            replaced = JsonResponse({"detail": f"{reason}."}, status=response.status_code)
            if allow := response.get("Allow"):
                replaced["Allow"] = allow
            return replaced
        return response
