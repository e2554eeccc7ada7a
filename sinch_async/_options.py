"""What a client is built from: the keyword settings, checked once into one frozen value.

:class:`ClientSettings` types the keyword settings every client takes;
:meth:`ClientOptions.build` checks them (with the API's own region, account and hosts)
before any network I/O and makes the frozen :class:`ClientOptions` a client is bound to.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping
from typing import TYPE_CHECKING, TypedDict

import aiohttp

from sinch_async import _config
from sinch_async._auth import TOKEN_RETRY, OAuth2TokenProvider
from sinch_async._core import HookFn, Hooks
from sinch_async._ratelimit import Limiter, RateLimiter
from sinch_async._retry import RetryPolicy
from sinch_async._transport import DEFAULT_MAX_RESPONSE_SIZE, make_timeout
from sinch_async._validate import check_id, check_text
from sinch_async._version import __version__
from sinch_async.errors import SinchValidationError

if TYPE_CHECKING:
    from opentelemetry.metrics import MeterProvider
    from opentelemetry.trace import TracerProvider

__all__ = [
    "DEFAULT",
    "ClientOptions",
    "ClientSettings",
    "DefaultType",
    "check_pool",
    "reject_unknown",
]


class DefaultType(enum.Enum):
    """The type of :data:`DEFAULT`: "use the client's setting"."""

    DEFAULT = "DEFAULT"


DEFAULT = DefaultType.DEFAULT


class ClientSettings(TypedDict, total=False):
    """The keyword settings every client takes (``AsyncSmsClient(..., timeout=10)``).

    Each is optional; the default is in brackets.

    * ``session``: an ``aiohttp.ClientSession`` to use (never closed by the client)
      instead of the client's own (created lazily in the running loop).
    * ``max_connections``: the connection pool of the client's own session (100).
    * ``timeout``: seconds for a whole request, or an ``aiohttp.ClientTimeout``
      (60 s in all, of which at most 10 s to connect).
    * ``max_response_size``: the largest response body read, in bytes after
      decompression (32 MiB); a larger one raises :class:`ResponseTooLargeError`.
    * ``allow_insecure_http``: allow ``http://`` to non-loopback hosts (off).
    * ``user_agent``: extra text appended to the ``User-Agent`` header.
    * ``retry``: a :class:`RetryPolicy` (``RetryPolicy()``); ``None`` turns retries off.
    * ``rate_limiter``: a :class:`RateLimiter` or any :class:`Limiter`, perhaps shared
      with other clients, instead of the three limits below.
    * ``requests_per_second``: request starts per second, evenly paced (the API's
      default: off for SMS, 800 for the Conversation API; ``None``: no limit).
    * ``messages_per_second``: a limit weighted by recipients per send (off).
    * ``max_concurrency``: requests in flight (off; the pool bounds it anyway).
    * ``on_request`` / ``on_response`` / ``on_retry``: hooks called with a
      :class:`RequestEvent` / :class:`ResponseEvent` / :class:`RetryEvent` (sync or
      async; an exception in a hook is logged, not raised).
    * ``telemetry``: OpenTelemetry traces and metrics, when ``opentelemetry-api`` is
      installed (extra ``otel``) (on); ``False`` turns them off.
    * ``tracer_provider`` / ``meter_provider``: OpenTelemetry providers to use instead
      of the global ones.
    * ``propagate_trace_context``: inject the current trace context (W3C
      ``traceparent``, through the configured propagator) into each request (off: for a
      simulator or a proxy of yours, not for Sinch's hosts).
    """

    session: aiohttp.ClientSession | None
    max_connections: int
    timeout: float | aiohttp.ClientTimeout | None
    max_response_size: int
    allow_insecure_http: bool
    user_agent: str | None
    retry: RetryPolicy | None
    rate_limiter: Limiter | None
    requests_per_second: float | None
    messages_per_second: float | None
    max_concurrency: int | None
    on_request: HookFn | None
    on_response: HookFn | None
    on_retry: HookFn | None
    telemetry: bool
    tracer_provider: TracerProvider | None
    meter_provider: MeterProvider | None
    propagate_trace_context: bool


@dataclasses.dataclass(frozen=True)
class ClientOptions:
    """The checked settings a client is built from (``client.options``).

    ``with_options`` makes a view from a copy with some fields replaced; the
    session, credentials and rate limiter stay shared.
    """

    region: str
    account_id: str
    """The service plan ID or project ID in the URL path."""
    base_url: str
    auth_url: str | None
    """The OAuth2 token endpoint (``None`` with a static API token)."""
    max_connections: int
    timeout: aiohttp.ClientTimeout
    max_response_size: int
    """The largest response body read, in bytes after decompression."""
    user_agent: str
    """The whole ``User-Agent`` header."""
    retry: RetryPolicy | None
    rate_limiter: Limiter
    hooks: Hooks
    auto_reference: bool
    """Give every send a unique reference (``auto_client_reference`` / ``auto_correlation_id``)."""
    telemetry: bool = True
    """OpenTelemetry traces and metrics (when the API is installed)."""
    tracer_provider: TracerProvider | None = None
    meter_provider: MeterProvider | None = None
    propagate_trace_context: bool = False
    """Inject the trace context (``traceparent``) into requests."""

    @classmethod
    def build(
        cls,
        settings: ClientSettings,
        *,
        region: str,
        account_id: str,
        base_url: str,
        auth_url: str | None,
        default_requests_per_second: float | None,
        auto_reference: bool,
        account_field: str = "project_id",
    ) -> ClientOptions:
        """Check the rest of ``settings`` and the API's own hosts (after :func:`precheck`)."""
        check_id(account_id, account_field)
        check_text(settings.get("user_agent"), "user_agent")
        insecure = settings.get("allow_insecure_http", False)
        checked_base_url = _config.check_url(
            base_url, field="base_url", allow_insecure_http=insecure
        )
        checked_auth_url = (
            None
            if auth_url is None
            else _config.check_url(auth_url, field="auth_url", allow_insecure_http=insecure)
        )
        try:
            timeout = make_timeout(settings.get("timeout"))
        except (TypeError, ValueError) as exc:
            raise SinchValidationError("timeout", str(exc), limit="> 0 seconds") from None
        agent = f"sinch-async/{__version__} aiohttp/{aiohttp.__version__}"
        extra_agent = settings.get("user_agent")
        retry = settings.get("retry", DEFAULT)
        return cls(
            region=region,
            account_id=account_id,
            base_url=checked_base_url,
            auth_url=checked_auth_url,
            max_connections=settings.get("max_connections", 100),
            timeout=timeout,
            max_response_size=_max_response_size(settings),
            user_agent=f"{agent} {extra_agent}" if extra_agent else agent,
            retry=RetryPolicy() if isinstance(retry, DefaultType) else retry,
            rate_limiter=_limiter(settings, default_requests_per_second),
            hooks=Hooks(
                on_request=settings.get("on_request"),
                on_response=settings.get("on_response"),
                on_retry=settings.get("on_retry"),
            ),
            auto_reference=auto_reference,
            telemetry=settings.get("telemetry", True),
            tracer_provider=settings.get("tracer_provider"),
            meter_provider=settings.get("meter_provider"),
            propagate_trace_context=_flag(settings, "propagate_trace_context"),
        )

    def token_provider(self, key_id: str, key_secret: str) -> OAuth2TokenProvider:
        """An OAuth2 token provider for project credentials at :attr:`auth_url`."""
        assert self.auth_url is not None
        retry = None if self.retry is None else TOKEN_RETRY
        return OAuth2TokenProvider(key_id, key_secret, self.auth_url, retry=retry)


def _flag(settings: ClientSettings, name: str) -> bool:
    value = settings.get(name, False)  # type: ignore[misc,unused-ignore]
    if not isinstance(value, bool):
        raise SinchValidationError(name, f"must be True or False, got {value!r}")
    return value


def reject_unknown(owner: str, settings: Mapping[str, object]) -> None:
    """The ``TypeError`` Python raises for an unknown keyword, before any other check."""
    unknown = sorted(settings.keys() - ClientSettings.__optional_keys__)
    if unknown:
        raise TypeError(f"{owner}() got an unexpected keyword argument {unknown[0]!r}")


def check_pool(settings: ClientSettings) -> None:
    """``max_connections``: checked right after the credentials, as it always was."""
    if settings.get("max_connections", 100) < 1:
        raise SinchValidationError("max_connections", "must be at least 1", limit=">= 1")


def _max_response_size(settings: ClientSettings) -> int:
    size = settings.get("max_response_size", DEFAULT_MAX_RESPONSE_SIZE)
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise SinchValidationError(
            "max_response_size", f"must be a whole number of bytes, got {size!r}", limit=">= 1"
        )
    return size


def _limiter(settings: ClientSettings, default_requests_per_second: float | None) -> Limiter:
    """The limiter given, or a :class:`RateLimiter` from the limits given (not both)."""
    limits = ("requests_per_second", "messages_per_second", "max_concurrency")
    given = [name for name in limits if settings.get(name) is not None]
    rate_limiter = settings.get("rate_limiter")
    if rate_limiter is not None:
        if given:
            raise SinchValidationError(
                "rate_limiter", f"give either rate_limiter or {', '.join(given)}, not both"
            )
        return rate_limiter
    try:
        return RateLimiter(
            requests_per_second=settings.get("requests_per_second", default_requests_per_second),
            messages_per_second=settings.get("messages_per_second"),
            max_concurrency=settings.get("max_concurrency"),
        )
    except ValueError as exc:
        raise SinchValidationError(given[0] if given else "rate_limiter", str(exc)) from None
