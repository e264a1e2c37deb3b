from __future__ import annotations

from django.db.models import Count, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_GET

from activity.forms import UploadForm
from catalog.forms import AnomalyFilters
from catalog.models import Anomaly, Check, Container, Datastore, Field

LIMIT = 200


def visible_datastores(request):
    return Datastore.objects.visible_to(request.user)


def visible_containers(request):
    return Container.objects.filter(datastore__in=visible_datastores(request))


@require_GET
def datastore_list(request):
    datastores = (
        visible_datastores(request)
        .select_related("enrichment")
        .annotate(
            container_count=Count("containers", filter=Q(containers__removed_at__isnull=True))
        )
    )
    rows = [(datastore, datastore.connection_shown_to(request.user)) for datastore in datastores]
    return render(
        request,
        "catalog/datastore_list.html",
        {
            "rows": rows,
            "show_connections": any(connection for _, connection in rows),
            "section": "datastores",
        },
    )


def count_of(rows) -> Coalesce:
    """How many of these rows belong to the container of the outer query."""
    counted = rows.filter(container=OuterRef("pk")).order_by().values("container")
    return Coalesce(Subquery(counted.annotate(n=Count("pk")).values("n")), 0)


@require_GET
def datastore_detail(request, pk: int):
    datastore = get_object_or_404(visible_datastores(request).select_related("enrichment"), pk=pk)
    # One count subquery each: joining fields, checks and anomalies at once multiplies them
    # (fields × checks × anomalies rows per container) before DISTINCT counts them back.
    containers = datastore.containers.annotate(
        field_count=count_of(Field.objects.filter(removed_at__isnull=True)),
        check_count=count_of(Check.objects.filter(status="active")),
        open_anomalies=count_of(Anomaly.objects.filter(status__in=Anomaly.OPEN)),
    ).order_by("removed_at", "name")
    return render(
        request,
        "catalog/datastore_detail.html",
        {
            "datastore": datastore,
            "containers": containers,
            "connection": datastore.connection_shown_to(request.user),
            "enrichment_connection": datastore.enrichment.connection_shown_to(request.user)
            if datastore.enrichment
            else "",
            "level": request.user.level_on(datastore),
            "section": "datastores",
        },
    )


@require_GET
def container_list(request):
    containers = (
        visible_containers(request)
        .select_related("datastore")
        .present()
        .order_by("datastore__name", "name")
    )
    return render(
        request,
        "catalog/container_list.html",
        {"containers": containers[: LIMIT * 5], "section": "containers"},
    )


@require_GET
def container_detail(request, pk: int):
    container = get_object_or_404(visible_containers(request).select_related("datastore"), pk=pk)
    fields = container.fields.present().select_related("profile")
    checks = container.checks.select_related("field").exclude(status="archived")
    anomalies = container.anomalies.select_related("quality_check")[:50]
    return render(
        request,
        "catalog/container_detail.html",
        {
            "container": container,
            "fields": fields,
            "checks": checks,
            "anomalies": anomalies,
            "can_edit": request.user.can_edit(container.datastore_id),
            "upload_form": UploadForm(container=container),
            "section": "containers",
        },
    )


@require_GET
def check_list(request):
    checks = (
        Check.objects.filter(container__in=visible_containers(request))
        .select_related("container__datastore", "field")
        .annotate(open_anomalies=Count("anomalies", filter=Q(anomalies__status__in=Anomaly.OPEN)))
        .order_by("container__datastore__name", "container__name", "id")
    )
    status = request.GET.get("status")
    if status in Check.Status.values:
        checks = checks.filter(status=status)
    return render(
        request,
        "catalog/check_list.html",
        {"checks": checks[: LIMIT * 5], "status": status, "section": "checks"},
    )


@require_GET
def check_detail(request, pk: int):
    check = get_object_or_404(
        Check.objects.filter(container__in=visible_containers(request)).select_related(
            "container__datastore", "field"
        ),
        pk=pk,
    )
    anomalies = check.anomalies.all()[:50]
    return render(
        request,
        "catalog/check_detail.html",
        {"check": check, "anomalies": anomalies, "section": "checks"},
    )


@require_GET
def anomaly_list(request):
    form = AnomalyFilters(request.GET)
    anomalies = Anomaly.objects.filter(container__in=visible_containers(request)).select_related(
        "container__datastore", "quality_check__field"
    )
    if not form.is_valid():
        return render(
            request,
            "catalog/anomaly_list.html",
            {"form": form, "anomalies": [], "section": "anomalies"},
            status=400,
        )
    anomalies = form.apply(anomalies)
    page = list(anomalies.order_by("-id")[: LIMIT + 1])
    return render(
        request,
        "catalog/anomaly_list.html",
        {
            "form": form,
            "anomalies": page[:LIMIT],
            "older": page[LIMIT - 1].pk if len(page) > LIMIT else None,
            "section": "anomalies",
        },
    )


@require_GET
def anomaly_detail(request, pk: int):
    anomaly = get_object_or_404(
        Anomaly.objects.filter(container__in=visible_containers(request)).select_related(
            "container__datastore", "quality_check__field", "run"
        ),
        pk=pk,
    )
    columns = list(anomaly.examples[0]) if anomaly.examples else []
    rows = [[example.get(column) for column in columns] for example in anomaly.examples]
    return render(
        request,
        "catalog/anomaly_detail.html",
        {"anomaly": anomaly, "columns": columns, "rows": rows, "section": "anomalies"},
    )
