"""Pages of the API: {items, total, page, size, pages}, numbered from 1, at most 100 items.

Clients page by number and stop once page × size ≥ total, so `total` must be exact. It is a
COUNT of the filtered rows the user may see, cached for TOTAL_TTL seconds per filter set: a
client walking every page pays for it once, not once per page. A page is found through the
index alone (the ids of the rows at that offset), then only its rows are read, so a page
100,000 rows deep costs an index scan, not 100,000 row reads.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from math import ceil

from django.core.cache import cache
from django.db.models import QuerySet
from ninja import Query, Schema
from pydantic import Field

TOTAL_TTL = 10


class PageQuery(Schema):
    page: int = Field(1, ge=1, le=10**9, description="From 1; past the end is an empty page.")
    size: int = Field(50, ge=1, le=100)


def paginate(
    rows: QuerySet,
    paging: PageQuery,
    *,
    key: str,
    fetch: Callable[[list[int]], Iterable],
    shape: Callable,
) -> dict:
    """The page of `rows` (already filtered and ordered); `fetch` reads the rows of the ids in
    order, `shape` makes each one an item; `key` names the user's filter set for the count."""
    cache_key = "api-total:" + hashlib.sha256(key.encode()).hexdigest()
    total = cache.get(cache_key)
    if total is None:
        total = rows.order_by().count()
        cache.set(cache_key, total, TOTAL_TTL)
    start = (paging.page - 1) * paging.size
    ids = (
        list(rows.values_list("pk", flat=True)[start : start + paging.size])
        if start < total
        else []
    )
    return {
        "items": [shape(row) for row in fetch(ids)] if ids else [],
        "total": total,
        "page": paging.page,
        "size": paging.size,
        "pages": ceil(total / paging.size),
    }


__all__ = ["PageQuery", "Query", "paginate"]
