"""The Jinja2 environment of Runboard's pages, rendered by Django's own Jinja2 backend.

A page's fragments live in the page: `"activity/run_list.html#run_row"` names the macro (or block)
`run_row` of that page, rendered alone for htmx. The page is then rendered without its layout
(`{% extends layout %}` gets an empty one), which defines its macros and prints nothing, and the
macro is called with its arguments taken from the context by name. `{% include "page#name" %}`
works the same way from another page. Never a second copy of a fragment.

The filters are the few the pages need, written for speed: a page of runs prints thousands of
values, and Django's template language spent most of the page's time doing it.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from functools import lru_cache

import jinja2
from django.contrib.humanize.templatetags.humanize import ordinal
from django.template.defaultfilters import pluralize
from django.templatetags.static import static
from django.urls import reverse
from django.utils import dateformat, timezone
from django.utils.text import capfirst
from django_htmx.jinja import htmx_script
from markupsafe import Markup

from activity.models import run_url_prefix
from activity.rules import RunStatus, RunType

LAYOUT = "base.html"


class Environment(jinja2.Environment):
    def __init__(self, **options):
        super().__init__(**options)
        self.no_layout = self.from_string("")
        self.globals.update(
            layout=LAYOUT,
            url=url,
            static=static,
            htmx_script=htmx_script,
            icon=icon,
            form_key=form_key,
            # Labels by value: get_type_display() builds a dict of the choices on every call.
            run_types=dict(RunType.choices),
            run_statuses=dict(RunStatus.choices),
        )
        self.filters.update(
            duration=duration,
            since=since,
            started=started,
            compact=compact,
            intcomma=intcomma,
            ordinal=ordinal,
            pluralize=pluralize,
            capfirst=capfirst,
            date=date,
            clock=clock,
            iso=iso,
            default_if_none=default_if_none,
            run_url=run_url,
        )

    def get_template(self, name, parent=None, globals=None):
        if isinstance(name, str) and "#" in name:
            page, _, fragment = name.partition("#")
            return Fragment(super().get_template(page, parent, globals), fragment)
        return super().get_template(name, parent, globals)


class Fragment:
    """One macro or block of a page, rendered alone: `"activity/run_list.html#run_row"`."""

    def __init__(self, page: jinja2.Template, name: str):
        self.page, self.fragment = page, name
        self.environment = page.environment
        self.name, self.filename = f"{page.name}#{name}", page.filename

    def new_context(self, vars=None, shared=False, locals=None):
        vars = {**(vars or {}), "layout": self.environment.no_layout}
        return self.page.new_context(vars, shared, locals)

    def root_render_func(self, context):
        yield from self.page.root_render_func(context)  # defines the macros; no layout, no output
        if self.fragment in self.page.blocks:
            yield from self.page.blocks[self.fragment](context)
            return
        macro = context.vars.get(self.fragment)
        if not isinstance(macro, jinja2.runtime.Macro):
            raise jinja2.TemplateNotFound(self.name)
        yield macro(**{name: context[name] for name in macro.arguments if name in context})

    def render(self, *args, **kwargs) -> str:
        context = self.new_context(dict(*args, **kwargs))
        try:
            return self.environment.concat(self.root_render_func(context))
        except Exception:
            self.environment.handle_exception()


@lru_cache(maxsize=256)
def url(name: str, *args) -> str:
    """reverse(), remembered: the same few links are printed on every page."""
    return reverse(name, args=args or None)


def run_url(pk: int) -> str:
    """/activity/runs/<pk>/ of a run known by its id (a parent, a resume)."""
    return f"{run_url_prefix()}{pk}/"


def form_key() -> str:
    """A key for this rendering of a form: submitting it twice acts once."""
    return secrets.token_urlsafe(16)


# Values ----------------------------------------------------------------------------------------


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


def started(value: datetime | None) -> str:
    """Today's times show only the time; older ones add the date (all UTC)."""
    if value is None:
        return "—"
    zone = timezone.get_current_timezone()
    value, today = value.astimezone(zone), datetime.now(zone).date()
    if value.date() == today:
        return value.strftime("%H:%M:%S")
    if value.year == today.year:
        return value.strftime("%b %d %H:%M")
    return value.strftime("%Y-%m-%d")


def compact(value: int | float | None) -> str:
    """38.2M · 412 · 1.2k"""
    if value is None:
        return "—"
    for threshold, size, suffix in ((1e9, 1e9, "B"), (1e6, 1e6, "M"), (1e4, 1e3, "k")):
        if abs(value) >= threshold:
            return f"{value / size:.1f}{suffix}"
    return f"{value:,.0f}"


def intcomma(value):
    """1,204,332 (anything that is not a number prints as it is)"""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return f"{value:,}"
    return value


def default_if_none(value, default=""):
    return default if value is None else value


def date(value: datetime | None, format: str) -> str:
    """A date in Django's format characters ("M j, H:i"), in the current time zone."""
    return dateformat.format(timezone.localtime(value), format) if value else ""


def clock(value: datetime | None) -> str:
    """14:03:10: log lines and timeline entries print hundreds of these."""
    return timezone.localtime(value).strftime("%H:%M:%S") if value else ""


def iso(value: datetime | None) -> str:
    return timezone.localtime(value).isoformat() if value else ""


# Icons ----------------------------------------------------------------------------------------


@lru_cache
def icon(name: str) -> Markup:
    """An icon of the stylesheet (static/css/app.css draws each from a mask): a few bytes a row."""
    return Markup(f'<i class="i-{name}"></i>')
