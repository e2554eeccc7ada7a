"""Property-based test: the message counters agree with what the server received.

Each example sends one batch with a ``client_reference`` to a fresh simulator that answers
its ``POST /batches`` with a random schedule of faults (dropped before or after processing,
5xx, 429, a slow apply that outlasts the client's timeout) and its lookups with 503s, and
perhaps cancels the send at a random moment. Whatever happens, the recipients land in
exactly one of ``sinch_async.messages.sent`` / ``failed`` / ``not_sent`` / ``unknown``, and:

* ``sent``: the server has the batch exactly once;
* ``failed`` or ``not_sent``: the server never has it (also after every slow apply landed);
* ``unknown``: it may have it once, never twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sinch_async import RetryPolicy, SinchError
from sinch_async.testing import SinchSimulator
from tests._otel import Otel
from tests.test_fanout_properties import (
    SETTLE_WINDOW,
    SLOWEST,
    TIMEOUT,
    FaultSpec,
    lookup_faults,
    send_faults,
)

OUTCOMES = ("sent", "failed", "not_sent", "unknown")
RECIPIENTS = [f"+4670{i:07d}" for i in range(7)]
_EXPLORE = int(os.environ.get("SINCH_ASYNC_EXPLORE", "0") or 0)


async def one_send(
    faults: list[FaultSpec], max_attempts: int, cancel_after: float | None
) -> tuple[dict[str, float], int]:
    """The message counters after one send, and how many batches the server has for it."""
    otel = Otel()
    policy = RetryPolicy(
        backoff_base=0.01,
        backoff_max=0.05,
        max_attempts=max_attempts,
        reconcile_delay=0.05,
        settle_window=SETTLE_WINDOW,
    )
    async with SinchSimulator(time_scale=0) as sim:
        for fault in faults:
            fault.add_to(sim)
        async with sim.client(timeout=TIMEOUT, retry=policy, **otel.options()) as sms:
            task = asyncio.ensure_future(
                sms.batches.send(RECIPIENTS, "hi", client_reference="prop-ref")
            )
            await asyncio.wait({task}, timeout=cancel_after)
            task.cancel()  # (a no-op when it is done)
            with contextlib.suppress(SinchError, asyncio.CancelledError):
                await task
        await asyncio.sleep(SLOWEST + 0.3)  # every slow apply has landed
        landed = [
            b for b in sim.journal.batches_created() if b.get("client_reference") == "prop-ref"
        ]
    totals = {o: otel.metric_total(f"sinch_async.messages.{o}") for o in OUTCOMES}
    otel.shutdown()
    return totals, len(landed)


@settings(
    max_examples=_EXPLORE or 15,
    deadline=None,
    derandomize=not _EXPLORE,
    database=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    sends=st.lists(send_faults, max_size=5),
    lookups=st.lists(lookup_faults, max_size=2),
    max_attempts=st.sampled_from([2, 3, 5]),
    cancel_after=st.one_of(st.none(), st.integers(0, 80).map(lambda n: n / 100)),
)
def test_message_counters_agree_with_the_server_under_random_faults(
    sends: list[FaultSpec],
    lookups: list[FaultSpec],
    max_attempts: int,
    cancel_after: float | None,
) -> None:
    logger = logging.getLogger("sinch_async")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        totals, landed = asyncio.run(one_send(sends + lookups, max_attempts, cancel_after))
    finally:
        logger.setLevel(level)
    counted = {o: n for o, n in totals.items() if n}
    assert list(counted.values()) == [len(RECIPIENTS)], counted  # one outcome, all recipients
    (outcome,) = counted
    if outcome == "sent":
        assert landed == 1
    elif outcome in ("failed", "not_sent"):
        assert landed == 0
    else:
        assert landed <= 1
