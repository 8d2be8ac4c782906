"""Histories of 2-6 weeks through the whole data flow (tests/stream_model.py): at 1 to 16
partitions, small and large batches and uneven partition speeds, the FINAL tables equal the
reference (tests/reference.py, one ordered pass over every event), and the alerts equal one
ordered pass through one partition, exactly."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from sqm.streams.core.alerting import DEFAULT_CONFIG
from tests.histories import DAY, arrival, history
from tests.stream_model import run_model
from tests.unit.test_core_properties import assert_matches_reference

# Few, large examples; no shrinking (a failing example prints its parameters, and shrinking
# whole histories takes minutes).
HISTORY = settings(max_examples=12, deadline=None, derandomize=True,
                   phases=[Phase.explicit, Phase.generate],
                   suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@HISTORY
@given(seed=st.integers(0, 2**16), weeks=st.integers(2, 6),
       inputs=st.integers(1, 16), shards=st.integers(1, 16),
       ingest_batch=st.sampled_from([7, 50, 400, 5000]),
       customer_batch=st.sampled_from([1, 3, 64]))
def test_weeks_of_history_equal_one_ordered_pass(seed, weeks, inputs, shards, ingest_batch,
                                                 customer_batch):
    events = history(seed, weeks=weeks, contacts=60 * weeks)
    result = run_model(arrival(events, seed), inputs=inputs, shards=shards,
                       ingest_batch=ingest_batch, message_size=9,
                       customer_batch=customer_batch, seed=seed)
    assert result.late == []
    assert_matches_reference(result.tables, events)
    assert result.dropped == 0


def ordered_alerts(events, seed):
    return run_model(events, inputs=1, shards=1, ingest_batch=1, message_size=1,
                     customer_batch=1, seed=seed, alert_config=DEFAULT_CONFIG).alerts


@settings(max_examples=6, deadline=None, derandomize=True,
          phases=[Phase.explicit, Phase.generate],
          suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**16), inputs=st.integers(1, 16), shards=st.integers(1, 8),
       ingest_batch=st.sampled_from([5, 60, 2000]), customer_batch=st.sampled_from([1, 8, 64]))
def test_alerts_equal_one_ordered_pass(seed, inputs, shards, ingest_batch, customer_batch):
    events = history(seed, weeks=2, contacts=500, customers=60)
    expected = ordered_alerts(events, seed)
    got = run_model(arrival(events, seed), inputs=inputs, shards=shards,
                    ingest_batch=ingest_batch, message_size=9, customer_batch=customer_batch,
                    seed=seed, alert_config=DEFAULT_CONFIG).alerts
    assert expected, "the scenario raises alerts"
    assert got == expected


def test_long_lived_contacts_are_read_back_not_started_afresh():
    """A ticket reopened ten days later and a survey two weeks later: the contact was evicted
    (state TTL 8 days) and comes back whole from the archive; without one, the row would be
    rebuilt from the late events alone and the old survey's window kept its count."""
    events = history(3, weeks=3, contacts=200)
    long_lived = {e.contact_id for e in events
                  if e.type in ("contact.reopened", "survey.submitted")
                  and e.ts - min(x.ts for x in events if x.contact_id == e.contact_id) > 9 * DAY}
    assert long_lived
    result = run_model(arrival(events, 3), inputs=4, shards=4, ingest_batch=300,
                       message_size=9, customer_batch=3, seed=3)
    # Those whose late event came after the clock had passed their TTL (not all of them: the
    # clock must have moved 8 days past their last event first).
    assert result.tables.restored >= 5
    assert_matches_reference(result.tables, events)
    without = run_model(arrival(events, 3), inputs=4, shards=4, ingest_batch=300,
                        message_size=9, customer_batch=3, seed=3, archive=False)
    # Without it, the late events start the contact afresh: its row (a lower version, so
    # FINAL keeps the stale one) and the windows it moved are wrong.
    with pytest.raises(AssertionError):
        assert_matches_reference(without.tables, events)
