"""The classifier's account of frame freshness: verified newest, stale, unverified, latency."""

from __future__ import annotations

import pytest

from tactile_material_ros.inference.frame_freshness import Delivery, FrameFreshness

PERIOD = 1 / 60


def _stream(freshness: FrameFreshness, frames: int) -> None:
    """``frames`` frames at 60 fps, each arriving 3 ms after capture and taken at once, not classified."""
    for k in range(frames):
        freshness.received(k * PERIOD, Delivery(k * PERIOD + 0.003, k * PERIOD + 0.003, k + 1), classified=False)


def test_the_next_frame_s_arrival_decides_whether_a_classified_frame_was_the_newest() -> None:
    freshness = FrameFreshness()
    assert freshness.frame_period_s() is None
    _stream(freshness, 30)
    assert freshness.frame_period_s() == pytest.approx(PERIOD)
    # frame 31 (sequence 31), captured at 30 periods, arrives at +3 ms but is taken 25 ms late
    c = 30 * PERIOD
    freshness.received(c, Delivery(c + 0.025, c + 0.003, 31), classified=True)
    # its successor arrived 20 ms after frame 31's capture, before frame 31 was taken (25 ms): stale
    freshness.received(c + PERIOD, Delivery(c + 0.026, c + 0.020, 32), classified=False)
    assert (freshness.stale, freshness.verified_newest) == (1, 0)
    # frame 33 is taken 4 ms after capture and its successor arrives after that: verified newest
    freshness.received(c + 2 * PERIOD, Delivery(c + 2 * PERIOD + 0.004, c + 2 * PERIOD + 0.003, 33), classified=True)
    freshness.received(c + 3 * PERIOD, Delivery(c + 3 * PERIOD + 0.003, c + 3 * PERIOD + 0.003, 34), classified=False)
    assert (freshness.stale, freshness.verified_newest, freshness.unverified) == (1, 1, 0)
    assert freshness.classified_on_arrival == 2 and freshness.never_taken == 0
    summary = freshness.summary()
    assert summary["frame_delivery_ms_min"] == "3.0"
    assert summary["frame_wait_in_queue_ms_p50_p99_max"].endswith("/ 22.0")


def test_a_successor_that_never_came_through_leaves_the_frame_unverified_unless_the_bound_clears_it() -> None:
    freshness = FrameFreshness()
    _stream(freshness, 30)
    c = 30 * PERIOD
    freshness.received(c, Delivery(c + 0.004, c + 0.003, 31), classified=True)             # taken young
    freshness.received(c + 2 * PERIOD, Delivery(c + 2 * PERIOD + 0.003, c + 2 * PERIOD + 0.003, 33), classified=True)
    # sequence 32 was replaced in the queue: frame 31 is unverified, but younger than period + 3 ms: not possibly stale
    assert (freshness.unverified, freshness.possibly_stale, freshness.never_taken) == (1, 0, 1)
    c2 = c + 2 * PERIOD  # frame 33 was taken at +3 ms; now one taken 21 ms after capture loses its successor
    freshness.received(c2 + PERIOD, Delivery(c2 + PERIOD + 0.021, c2 + PERIOD + 0.003, 34), classified=True)
    freshness.received(c2 + 3 * PERIOD, Delivery(c2 + 3 * PERIOD + 0.003, c2 + 3 * PERIOD + 0.003, 36), classified=False)
    assert (freshness.verified_newest, freshness.unverified, freshness.possibly_stale) == (1, 2, 1)
    assert freshness.stale == 0 and freshness.never_taken == 2


def test_without_middleware_information_the_period_bound_decides() -> None:
    freshness = FrameFreshness()
    for k in range(30):
        freshness.received(k * PERIOD, Delivery(k * PERIOD + 0.004), classified=False)   # 4 ms: the least delay
    c = 29 * PERIOD
    for age in (0.004, 0.0166, 0.020, 0.021):   # the next frame cannot be here before period + 4 ms = 20.7 ms
        freshness.received(c, Delivery(c + age), classified=True)
    assert freshness.classified_on_arrival == 4 and freshness.possibly_stale == 1
    assert freshness.verified_newest == freshness.stale == freshness.unverified == 0


def test_a_restarted_camera_starts_its_sequence_again() -> None:
    freshness = FrameFreshness()
    _stream(freshness, 30)
    c = 30 * PERIOD
    freshness.received(c, Delivery(c + 0.004, c + 0.003, 31), classified=True)
    freshness.received(c + 1.0, Delivery(c + 1.003, c + 1.003, 1), classified=False)  # a new publisher
    assert (freshness.unverified, freshness.stale, freshness.never_taken) == (1, 0, 0)


def test_the_summary_reports_ages_and_capture_to_label_latency_in_milliseconds() -> None:
    freshness = FrameFreshness(window=100)
    assert freshness.summary()["capture_to_label_ms_p50_p95_p99"] == "-"
    for k in range(100):
        freshness.received(k / 30, Delivery(k / 30 + 0.005, k / 30 + 0.002, k + 1), classified=True)
        freshness.published(k / 30, k / 30 + 0.010 + 0.0001 * k)
    summary = freshness.summary()
    assert summary["camera_frame_period_ms"] == "33.33"
    assert summary["frame_age_at_take_ms_p50_p99_max"] == "5.0 / 5.0 / 5.0"
    assert summary["frame_wait_in_queue_ms_p50_p99_max"] == "3.0 / 3.0 / 3.0"
    p50, p95, p99 = (float(v) for v in summary["capture_to_label_ms_p50_p95_p99"].split(" / "))
    assert p50 == pytest.approx(15.0, abs=0.1) and p50 < p95 < p99 <= 19.9
    assert summary["classified_verified_newest"] == "99" and summary["classified_stale"] == "0"


def test_the_window_keeps_the_last_values_in_a_fixed_array() -> None:
    freshness = FrameFreshness(window=4)
    for k in range(10):
        freshness.published(0.0, 0.001 * k)                 # 0 .. 9 ms; the last four are 6 .. 9 ms
    summary = freshness.summary()
    assert summary["labels_timed"] == "4"
    assert summary["capture_to_label_ms_p50_p95_p99"].startswith("7.5 / ")
