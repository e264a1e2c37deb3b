"""The Scan as it was, one query per check: the oracle the one-pass Scan must agree with."""

from __future__ import annotations

from catalog.connectors import Connector
from catalog.models import Check


def failing_counts(src: Connector, table: str, checks: list[Check]) -> dict[int, int]:
    """For each check, how many records of the table fail it, each counted on its own."""
    quoted = src.quote(table)
    counts = {}
    for check in checks:
        if check.rule == Check.Rule.ROW_COUNT:
            continue
        condition, params = condition_of(src, quoted, check)
        counts[check.pk] = src.scalar(
            f"SELECT COUNT(*) FROM {quoted} AS src WHERE {condition}", params
        )
    return counts


def condition_of(src: Connector, table: str, check: Check) -> tuple[str, list]:
    p, params = src.placeholder, check.params or {}
    f = f"src.{src.quote(check.field.name)}"
    bare = src.quote(check.field.name)
    match check.rule:
        case Check.Rule.NOT_NULL:
            return f"{f} IS NULL", []
        case Check.Rule.UNIQUE:
            return f"{f} IN (SELECT {bare} FROM {table} GROUP BY {bare} HAVING COUNT(*) > 1)", []
        case Check.Rule.BETWEEN:
            parts, values = [], []
            if params.get("min") is not None:
                parts.append(f"{f} < {p}")
                values.append(params["min"])
            if params.get("max") is not None:
                parts.append(f"{f} > {p}")
                values.append(params["max"])
            return " OR ".join(parts) or "1=0", values
        case Check.Rule.IN_SET:
            values = list(params.get("values", []))
            marks = ", ".join([p] * len(values))
            return f"{f} IS NOT NULL AND {f} NOT IN ({marks})", values
        case Check.Rule.MATCHES:
            return f"{f} IS NOT NULL AND NOT ({src.matches(f)})", [params["pattern"]]
        case Check.Rule.NOT_FUTURE:
            return f"{f} > {src.now()}", []
        case Check.Rule.REFERENCES:
            other, key = src.quote(params["container"]), src.quote(params["field"])
            return (
                f"{f} IS NOT NULL AND NOT EXISTS "
                f"(SELECT 1 FROM {other} AS ref WHERE ref.{key} = {f})",
                [],
            )
    raise AssertionError(check.rule)
