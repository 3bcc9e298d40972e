from datetime import UTC, datetime, timedelta

import pytest

from producer.delivery import RetryPolicy
from producer.pacing import Pacer

T0 = datetime(2019, 10, 1, tzinfo=UTC)


def test_rate():
    pacer = Pacer(rate=200)
    assert [pacer.due(i, T0) for i in (0, 1, 200, 1000)] == [0.0, 0.005, 1.0, 5.0]


def test_speedup_keeps_relative_timing():
    pacer = Pacer(speedup=60)
    assert pacer.due(0, T0 + timedelta(minutes=5)) == 0.0
    assert pacer.due(1, T0 + timedelta(minutes=6)) == pytest.approx(1.0)
    assert pacer.due(2, T0 + timedelta(hours=1, minutes=5)) == pytest.approx(60.0)
    assert pacer.due(3, T0) == 0.0  # earlier than the first event: at once


def test_unpaced_and_invalid():
    assert not Pacer().paced and Pacer().due(10**6, T0) == 0.0
    with pytest.raises(ValueError):
        Pacer(rate=0)
    with pytest.raises(ValueError):
        Pacer(rate=1, speedup=2)


def test_backoff_is_exponential_capped_and_jittered():
    policy = RetryPolicy(max_retries=10, base=0.1, cap=2.0)
    assert [policy.backoff(n, rand=lambda: 0.0) for n in (1, 2, 3, 4)] == [0.05, 0.1, 0.2, 0.4]
    assert [policy.backoff(n, rand=lambda: 1.0) for n in (1, 2, 3)] == [0.1, 0.2, 0.4]
    assert policy.backoff(30, rand=lambda: 1.0) == 2.0
