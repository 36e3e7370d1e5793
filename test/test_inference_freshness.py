"""The classifier's account of frame freshness: provably newest, possibly stale, latency."""

from __future__ import annotations

import pytest

from tactile_material_ros.inference.frame_freshness import FrameFreshness


def test_a_frame_younger_than_a_period_plus_the_least_delivery_delay_is_the_newest() -> None:
    freshness = FrameFreshness()
    assert freshness.frame_period_s() is None
    period = 1 / 60
    for k in range(30):
        freshness.received(k * period)
    assert freshness.frame_period_s() == pytest.approx(period)
    freshness.classified_on_arrival_of(29 * period, 29 * period + 0.004)    # 4 ms: the youngest seen
    freshness.classified_on_arrival_of(29 * period, 29 * period + 0.0166)   # under a period: the next not captured
    freshness.classified_on_arrival_of(29 * period, 29 * period + 0.020)    # the next captured, not here before 20.7
    freshness.classified_on_arrival_of(29 * period, 29 * period + 0.021)    # past period + 4 ms: it may have waited
    assert freshness.classified_on_arrival == 4 and freshness.possibly_stale == 1
    assert freshness.summary()["frame_age_at_take_ms_min"] == "4.0"


def test_the_summary_reports_ages_and_capture_to_label_latency_in_milliseconds() -> None:
    freshness = FrameFreshness(window=100)
    assert freshness.summary()["capture_to_label_ms_p50_p95_p99"] == "-"
    for k in range(100):
        freshness.received(k / 30)
        freshness.classified_on_arrival_of(k / 30, k / 30 + 0.005)
        freshness.published(k / 30, k / 30 + 0.010 + 0.0001 * k)
    summary = freshness.summary()
    assert summary["camera_frame_period_ms"] == "33.33"
    assert summary["frame_age_at_take_ms_p50_p99_max"] == "5.0 / 5.0 / 5.0"
    p50, p95, p99 = (float(v) for v in summary["capture_to_label_ms_p50_p95_p99"].split(" / "))
    assert p50 == pytest.approx(15.0, abs=0.1) and p50 < p95 < p99 <= 19.9
    assert summary["classified_possibly_stale"] == "0"


def test_the_window_keeps_the_last_values_in_a_fixed_array() -> None:
    freshness = FrameFreshness(window=4)
    for k in range(10):
        freshness.published(0.0, 0.001 * k)                 # 0 .. 9 ms; the last four are 6 .. 9 ms
    summary = freshness.summary()
    assert summary["labels_timed"] == "4"
    assert summary["capture_to_label_ms_p50_p95_p99"].startswith("7.5 / ")
