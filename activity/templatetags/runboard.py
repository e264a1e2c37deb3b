"""Small filters for how runs read: durations, start times, counts."""

from __future__ import annotations

import re
import secrets
from datetime import datetime, timedelta
from functools import lru_cache

from django import template
from django.template.defaulttags import PartialDefNode
from django.template.loader import get_template
from django.utils import timezone
from django.utils.safestring import mark_safe

from activity.models import run_url_prefix

register = template.Library()


@register.filter
def duration(value: timedelta | None) -> str:
    """12 s · 1m 12s · 11m 42s · 2h 03m"""
    if value is None:
        return "—"
    seconds = int(value.total_seconds())
    if seconds < 1:
        return "<1 s"
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m {seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"


@register.filter
def since(value: datetime | None) -> str:
    """How long ago, coarsely, for live rows: 22 s · 3 min · 2 h"""
    if value is None:
        return ""
    seconds = int((timezone.now() - value).total_seconds())
    if seconds < 60:
        return f"{max(seconds, 0)} s"
    if seconds < 3600:
        return f"{seconds // 60} min"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


@register.filter
def started(value: datetime | None) -> str:
    """Today's times show only the time; older ones add the date (all UTC)."""
    if value is None:
        return "—"
    value = timezone.localtime(value)
    if value.date() == timezone.localdate():
        return value.strftime("%H:%M:%S")
    if value.year == timezone.localdate().year:
        return value.strftime("%b %d %H:%M")
    return value.strftime("%Y-%m-%d")


@register.filter
def compact(value: int | float | None) -> str:
    """38.2M · 412 · 1.2k"""
    if value is None:
        return "—"
    for threshold, size, suffix in ((1e9, 1e9, "B"), (1e6, 1e6, "M"), (1e4, 1e3, "k")):
        if abs(value) >= threshold:
            return f"{value / size:.1f}{suffix}"
    return f"{value:,.0f}"


@register.filter
def get(mapping: dict, key):
    return mapping.get(key, 0) if mapping else 0


@register.simple_tag
def form_key() -> str:
    """A key for this rendering of a form: submitting it twice acts once."""
    return secrets.token_urlsafe(16)


ICONS = "activity/icons.html"
SVG = re.compile(
    r"<svg(?P<attrs>[^>]*?) viewBox=\"(?P<box>[^\"]+)\"(?P<more>[^>]*)>(?P<body>.*)</svg>", re.S
)
# Drawn inline: its parts animate on their own, which a <use> copy would not do everywhere.
INLINE = {"aborting"}


@lru_cache
def drawing(name: str) -> re.Match:
    return SVG.fullmatch(get_template(f"{ICONS}#{name}").render().strip())


@register.simple_tag
@lru_cache
def icon(name: str) -> str:
    """An icon of templates/activity/icons.html: a <use> of the page's sprite, so that a list of
    runs carries each drawing once, not once per row."""
    svg = drawing(name)
    if name in INLINE:
        return mark_safe(svg.group(0))  # noqa: S308
    return mark_safe(f'<svg{svg["attrs"]}{svg["more"]}><use href="#i-{name}"/></svg>')  # noqa: S308


@register.simple_tag
@lru_cache
def icon_sprite() -> str:
    """Every icon as a <symbol>, once per page (base.html)."""
    names = [
        node.partial_name
        for node in get_template(ICONS).template.nodelist.get_nodes_by_type(PartialDefNode)
        if node.partial_name not in INLINE
    ]
    symbols = "".join(
        f'<symbol id="i-{name}" viewBox="{drawing(name)["box"]}">{drawing(name)["body"]}</symbol>'
        for name in names
    )
    return mark_safe(f'<svg class="sprite" aria-hidden="true">{symbols}</svg>')  # noqa: S308


@register.filter
def run_url(pk: int) -> str:
    """/activity/runs/<pk>/ of a run known by its id (a parent, a resume)."""
    return f"{run_url_prefix()}{pk}/"
