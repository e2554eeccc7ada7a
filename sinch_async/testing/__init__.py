"""Testing helpers: a local Sinch API simulator and its pytest plugin.

``SinchSimulator`` is a real aiohttp server on 127.0.0.1 that speaks the Sinch SMS REST
API (all 20 operations plus ``/oauth2/token``) and the Conversation Batch API, runs
messages through a queued -> dispatched -> delivered lifecycle on a simulated clock, sends
signed delivery-report and inbound callbacks, and lets tests script faults and inspect a
journal of requests. The fixtures ``sinch_simulator`` and ``sinch_client`` live in
:mod:`sinch_async.testing.pytest_plugin`.
"""

from sinch_async.testing._callbacks import CallbackRecord, sign_webhook
from sinch_async.testing._clock import SimClock
from sinch_async.testing._engine import DEFAULT_CODES
from sinch_async.testing._faults import Fault, FaultInjector
from sinch_async.testing._journal import DispatchedMessage, Journal, JournalEntry
from sinch_async.testing._simulator import SinchSimulator

__all__ = [
    "DEFAULT_CODES",
    "CallbackRecord",
    "DispatchedMessage",
    "Fault",
    "FaultInjector",
    "Journal",
    "JournalEntry",
    "SimClock",
    "SinchSimulator",
    "sign_webhook",
]
