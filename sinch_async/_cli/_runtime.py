"""Where commands send to: Sinch (credentials from ``SINCH_*``) or an embedded simulator."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sinch_async._cli._output import CliError
from sinch_async.client import AsyncSmsClient
from sinch_async.errors import SinchValidationError

if TYPE_CHECKING:
    from sinch_async.testing import SinchSimulator

__all__ = ["CREDENTIAL_VARS", "Runtime", "open_runtime"]

CREDENTIAL_VARS = (
    "SINCH_SERVICE_PLAN_ID",
    "SINCH_API_TOKEN",
    "SINCH_PROJECT_ID",
    "SINCH_KEY_ID",
    "SINCH_KEY_SECRET",
)

NO_CREDENTIALS = (
    "no Sinch credentials: set SINCH_SERVICE_PLAN_ID and SINCH_API_TOKEN (or SINCH_PROJECT_ID, "
    "SINCH_KEY_ID and SINCH_KEY_SECRET; SINCH_REGION and SINCH_BASE_URL are optional), "
    "or add --simulate to run against the embedded Sinch simulator"
)

SIMULATOR_MPS = 10_000.0
"""Dispatch rate of the embedded simulator (simulated messages per second)."""


@dataclass
class Runtime:
    sms: AsyncSmsClient
    simulator: SinchSimulator | None = None
    state_file: str | None = None
    """The embedded simulator's ``--simulate-state`` file (its state outlives the run)."""


def client_from_env(environ: Mapping[str, str] | None = None, **options: Any) -> AsyncSmsClient:
    """``AsyncSmsClient.from_env`` with the CLI's error messages (:class:`CliError`, exit 2)."""
    env = os.environ if environ is None else environ
    if not any(env.get(name, "").strip() for name in CREDENTIAL_VARS):
        raise CliError(NO_CREDENTIALS)
    try:
        return AsyncSmsClient.from_env(env, **options)
    except SinchValidationError as exc:
        raise CliError(f"bad SINCH_* configuration: {exc}") from None


@asynccontextmanager
async def open_runtime(
    simulate: bool, state: str | None = None, **options: Any
) -> AsyncIterator[Runtime]:
    """A client for the command's duration; with ``simulate`` an embedded simulator too
    (frozen clock: ``await runtime.simulator.advance(s)`` moves it), whose state is loaded
    from the file ``state`` if it exists and saved there at the end (even on an error)."""
    if simulate:
        from sinch_async.testing import SinchSimulator

        sim = SinchSimulator(time_scale=0, messages_per_second=SIMULATOR_MPS)
        if state is not None:
            try:
                sim.load_state(state)
            except ValueError as exc:
                raise CliError(f"--simulate-state: {exc}") from None
        try:
            async with sim, sim.client(**options) as sms:
                yield Runtime(sms, sim, state)
        finally:
            if state is not None:
                try:
                    sim.save_state(state)
                except ValueError as exc:
                    raise CliError(f"--simulate-state: {exc}") from None
    else:
        sms = client_from_env(**options)
        async with sms:
            yield Runtime(sms)
