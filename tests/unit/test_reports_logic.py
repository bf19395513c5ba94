"""Reporting periods (time zones, DST), percentiles and business impact, by hand."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from warroom.reports.logic import Period, business_impact, nearest_rank, percentile, window
from warroom.reports.render import bars

BERLIN = ZoneInfo("Europe/Berlin")
NOW = datetime(2024, 4, 10, 12, 0, tzinfo=UTC)  # a Wednesday


def test_nearest_rank_percentiles() -> None:
    assert percentile([], 50) is None
    assert percentile([5.0], 90) == 5.0
    assert percentile([1, 2, 3, 4], 50) == 2
    assert percentile([4, 1, 3, 2], 90) == 4
    assert percentile(list(range(1, 11)), 90) == 9
    assert nearest_rank(50, 3) == 2
    with pytest.raises(ValueError):
        nearest_rank(50, 0)


def test_business_impact_is_seed_003s_product_and_none_when_unknown() -> None:
    assert business_impact(1000, 30, 0.05) == 1500.0
    assert business_impact(None, 30, 0.05) is None
    assert business_impact(1000, 30, None) is None


def test_the_last_complete_day_week_month_quarter_and_year() -> None:
    day = window(Period.DAILY, now=NOW, zone=UTC_ZONE)
    assert (day.since, day.until) == (
        datetime(2024, 4, 9, tzinfo=UTC),
        datetime(2024, 4, 10, tzinfo=UTC),
    )
    week = window(Period.WEEKLY, now=NOW, zone=UTC_ZONE)
    assert week.start.date() == date(2024, 4, 1) and week.end.date() == date(2024, 4, 8)
    assert len(week.buckets) == 7
    month = window(Period.MONTHLY, now=NOW, zone=UTC_ZONE)
    assert month.start.date() == date(2024, 3, 1) and len(month.buckets) == 31
    quarter = window(Period.QUARTERLY, now=NOW, zone=UTC_ZONE)
    assert quarter.start.date() == date(2024, 1, 1) and quarter.end.date() == date(2024, 4, 1)
    assert [b[0] for b in quarter.buckets] == ["2024-01", "2024-02", "2024-03"]
    year = window(Period.ANNUAL, now=NOW, zone=UTC_ZONE)
    assert year.start.date() == date(2023, 1, 1) and len(year.buckets) == 12


def test_weeks_can_start_on_sunday() -> None:
    week = window(Period.WEEKLY, now=NOW, zone=UTC_ZONE, week_starts=7)
    assert week.start.date() == date(2024, 3, 31)


def test_a_spring_forward_day_in_berlin_has_23_hours() -> None:
    day = window(Period.DAILY, now=NOW, zone=BERLIN, on=date(2024, 3, 31))
    assert day.since == datetime(2024, 3, 30, 23, 0, tzinfo=UTC)
    assert day.until == datetime(2024, 3, 31, 22, 0, tzinfo=UTC)
    assert day.until - day.since == timedelta(hours=23)
    assert len(day.buckets) == 23
    assert "02:00" not in [b[0] for b in day.buckets]


def test_a_fall_back_day_has_25_hours_and_the_month_spans_it() -> None:
    day = window(Period.DAILY, now=NOW, zone=BERLIN, on=date(2024, 10, 27))
    assert day.until - day.since == timedelta(hours=25)
    assert [b[0] for b in day.buckets].count("02:00") == 2
    month = window(Period.MONTHLY, now=NOW, zone=BERLIN, on=date(2024, 10, 15))
    assert month.since == datetime(2024, 9, 30, 22, 0, tzinfo=UTC)
    assert month.until == datetime(2024, 10, 31, 23, 0, tzinfo=UTC)


def test_the_last_day_depends_on_the_zone() -> None:
    late = datetime(2024, 4, 9, 23, 30, tzinfo=UTC)  # already 10 April in Berlin
    assert window(Period.DAILY, now=late, zone=BERLIN).label == "2024-04-09"
    assert window(Period.DAILY, now=late, zone=UTC_ZONE).label == "2024-04-08"


def test_bars_scale_to_the_tallest() -> None:
    out = bars([("a", 0), ("b", 5), ("c", 10)], width=300, height=120)
    assert [b["h"] for b in out] == [0, 50.0, 100.0]
    assert out[2]["y"] == 5.0
    assert bars([]) == []


UTC_ZONE = ZoneInfo("UTC")
