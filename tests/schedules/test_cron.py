"""Cron presets become expressions, expressions become fire times and words (all UTC)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from schedules.cron import InvalidCron, Preset, in_words, next_fires, validate


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.mark.parametrize(
    ("preset", "expression", "words"),
    [
        (Preset("hourly", minute=15), "15 * * * *", "every hour at minute 15"),
        (Preset("daily", hour=2, minute=0), "0 2 * * *", "every day at 02:00 UTC"),
        (
            Preset("weekly", hour=6, minute=30, weekdays=(5, 1, 1)),
            "30 6 * * 1,5",
            "every Monday and Friday at 06:30 UTC",
        ),
        (
            Preset("monthly", day=28, hour=23, minute=59),
            "59 23 28 * *",
            "on day 28 of every month at 23:59 UTC",
        ),
        (Preset("custom", custom=" */5  *  * * * "), "*/5 * * * *", "every 5 minutes"),
        (Preset("custom", custom="0 */6 * * 1-5"), "0 */6 * * 1-5", "cron “0 */6 * * 1-5” (UTC)"),
    ],
)
def test_a_preset_makes_an_expression_said_in_words_and_read_back(preset, expression, words):
    assert preset.expression() == expression
    assert in_words(expression) == words
    assert Preset.of(expression).expression() == expression


@pytest.mark.parametrize(
    ("expression", "after", "expected"),
    [
        # across a month's end, and the leap day
        (
            "0 2 * * *",
            "2024-02-28T03:00",
            ["2024-02-29T02:00", "2024-03-01T02:00", "2024-03-02T02:00"],
        ),
        (
            "0 2 * * *",
            "2023-02-28T03:00",
            ["2023-03-01T02:00", "2023-03-02T02:00", "2023-03-03T02:00"],
        ),
        (
            "30 1 29 2 *",
            "2024-03-01T00:00",
            ["2028-02-29T01:30", "2032-02-29T01:30", "2036-02-29T01:30"],
        ),
        (
            "0 0 31 * *",
            "2025-01-31T00:00",
            ["2025-03-31T00:00", "2025-05-31T00:00", "2025-07-31T00:00"],
        ),
        (
            "45 * * * *",
            "2025-12-31T23:50",
            ["2026-01-01T00:45", "2026-01-01T01:45", "2026-01-01T02:45"],
        ),
        (
            "0 9 * * 1",
            "2025-06-02T09:00",
            ["2025-06-09T09:00", "2025-06-16T09:00", "2025-06-23T09:00"],
        ),
    ],
)
def test_next_fire_times_are_strictly_after_the_moment(expression, after, expected):
    assert next_fires(expression, 3, after=at(after)) == [at(t) for t in expected]


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("0 2 * *", "5 fields"),
        ("61 * * * *", "not a valid cron expression"),
        ("0 2 30 2 *", "never fires"),
        ("a b c d e", "not a valid cron expression"),
        ("", "5 fields"),
    ],
)
def test_an_invalid_expression_says_why(expression, message):
    with pytest.raises(InvalidCron, match=message):
        validate(expression)
