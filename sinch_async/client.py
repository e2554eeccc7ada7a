"""``AsyncSmsClient``: the SMS REST API's credentials, options and resources."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sinch_async import _config
from sinch_async._auth import StaticTokenAuth
from sinch_async._base import (
    DEFAULT,
    BaseClient,
    ClientOptions,
    ClientSettings,
    DefaultType,
)
from sinch_async._options import check_pool, reject_unknown
from sinch_async._retry import RetryPolicy
from sinch_async._transport import JSON
from sinch_async._typing import Unpack
from sinch_async.errors import SinchValidationError
from sinch_async.resources.batches import Batches
from sinch_async.resources.delivery_reports import DeliveryReports
from sinch_async.resources.groups import Groups
from sinch_async.resources.inbounds import Inbounds

__all__ = ["AsyncSmsClient"]


def _present(value: str | None) -> bool:
    return value is not None and value.strip() != ""


class AsyncSmsClient(BaseClient):
    """An asyncio client for the Sinch SMS REST API.

    Give either service-plan credentials (``service_plan_id`` + ``api_token``,
    regions ``us``, ``eu``, ``au``, ``br``, ``ca``) or project credentials
    (``project_id`` + ``key_id`` + ``key_secret``, OAuth2, regions ``us`` and
    ``eu``). Use it as an async context manager, or call :meth:`aclose`::

        async with AsyncSmsClient(service_plan_id="...", api_token="...", region="eu") as sms:
            batch = await sms.batches.send(to=["+46700000001"], body="Hi")

    One ``aiohttp.ClientSession`` is created lazily inside the running event loop
    and reused for every request. A ``session`` passed in is used and never closed.

    Args:
        service_plan_id: Service plan ID (goes into the URL path).
        api_token: The service plan's API token (sent as a Bearer token).
        project_id: Project ID, for OAuth2 project credentials.
        key_id: Access key ID, for OAuth2 project credentials.
        key_secret: Access key secret, for OAuth2 project credentials.
        region: ``us`` (default), ``eu``, ``au``, ``br`` or ``ca`` (OAuth2: ``us``/``eu``).
        base_url: Override the API host (a local simulator, a test server, a proxy);
            it may end in ``/xms/v1`` or ``/xms/v1/{service_plan_id}`` (``project_id``).
        auth_url: Override the OAuth2 token endpoint.
        auto_client_reference: Give every send without a ``client_reference`` a
            unique one, so that ambiguous failures can be reconciled (off).
        **settings: The :class:`ClientSettings` every client takes: ``session``,
            ``max_connections`` (100), ``timeout`` (60 s, 10 s to connect),
            ``allow_insecure_http``, ``user_agent``, ``retry`` (``RetryPolicy()``; ``None``
            for none), ``rate_limiter`` (any :class:`Limiter`) or ``requests_per_second`` /
            ``messages_per_second`` / ``max_concurrency`` (all off), and the hooks
            ``on_request`` / ``on_response`` / ``on_retry``.
    """

    batches: Batches
    """Send, list, get, update, replace, cancel and dry-run batches."""
    delivery_reports: DeliveryReports
    """Delivery reports per batch, per recipient, and as a list."""
    groups: Groups
    """Groups of recipients."""
    inbounds: Inbounds
    """Inbound (MO) messages."""

    def __init__(
        self,
        service_plan_id: str | None = None,
        api_token: str | None = None,
        *,
        auto_client_reference: bool = False,
        project_id: str | None = None,
        key_id: str | None = None,
        key_secret: str | None = None,
        region: str | None = None,
        base_url: str | None = None,
        auth_url: str | None = None,
        **settings: Unpack[ClientSettings],
    ) -> None:
        reject_unknown(f"{type(self).__name__}.__init__", settings)
        plan_given = [
            n
            for n, v in (("service_plan_id", service_plan_id), ("api_token", api_token))
            if _present(v)
        ]
        oauth_given = [
            n
            for n, v in (("project_id", project_id), ("key_id", key_id), ("key_secret", key_secret))
            if _present(v)
        ]
        if plan_given and oauth_given:
            raise SinchValidationError(
                "credentials",
                "give either service_plan_id + api_token or project_id + key_id + key_secret, "
                f"not both (got {', '.join(plan_given + oauth_given)})",
            )
        if not plan_given and not oauth_given:
            raise SinchValidationError(
                "credentials",
                "no credentials: give service_plan_id + api_token, or project_id + key_id + "
                "key_secret (from_env() reads SINCH_SERVICE_PLAN_ID / SINCH_API_TOKEN or "
                "SINCH_PROJECT_ID / SINCH_KEY_ID / SINCH_KEY_SECRET)",
            )
        if oauth_given:
            missing = [n for n in ("project_id", "key_id", "key_secret") if n not in oauth_given]
            if missing:
                raise SinchValidationError(
                    missing[0],
                    f"project credentials need project_id, key_id and key_secret; missing "
                    f"{', '.join(missing)}",
                )
        elif len(plan_given) < 2:
            missing_name = "api_token" if "service_plan_id" in plan_given else "service_plan_id"
            raise SinchValidationError(
                missing_name,
                f"service plan credentials need service_plan_id and api_token; missing "
                f"{missing_name}",
            )
        check_pool(settings)
        region = (region or "us").strip().lower()
        account_id: str = project_id if oauth_given else service_plan_id  # type: ignore[assignment]
        default_base = _config.default_base_url(region, oauth=bool(oauth_given))  # checks region
        options = ClientOptions.build(
            settings,
            region=region,
            account_id=account_id,
            account_field="project_id" if oauth_given else "service_plan_id",
            base_url=base_url or default_base,
            auth_url=(auth_url or _config.DEFAULT_AUTH_URL) if oauth_given else None,
            default_requests_per_second=None,
            auto_reference=auto_client_reference,
        )
        session = settings.get("session")
        prefix = _config.sms_prefix(options.base_url, account_id)
        if oauth_given:
            auth = options.token_provider(key_id or "", key_secret or "")
            self._open(options, auth=auth, prefix=prefix, oauth=True, session=session)
        else:
            static = StaticTokenAuth(api_token or "")
            # With a static token the fixed headers go on the client's own session once,
            # instead of on every request.
            headers = {"Authorization": static.header, "Accept": JSON}
            self._open(
                options,
                auth=static,
                prefix=prefix,
                oauth=False,
                session=session,
                session_headers=headers,
                account_placeholder="{service_plan_id}",
            )

    def _bind(self, options: ClientOptions) -> None:
        super()._bind(options)
        self.account_id = options.account_id
        """The service plan ID or project ID in the URL path."""
        self.auto_client_reference = options.auto_reference
        self.batches = Batches(self)
        self.delivery_reports = DeliveryReports(self)
        self.groups = Groups(self)
        self.inbounds = Inbounds(self)

    # --- construction from the environment ------------------------------------------------

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> AsyncSmsClient:
        """Build a client from ``SINCH_*`` environment variables.

        Reads ``SINCH_SERVICE_PLAN_ID``, ``SINCH_API_TOKEN``, ``SINCH_PROJECT_ID``,
        ``SINCH_KEY_ID``, ``SINCH_KEY_SECRET``, ``SINCH_REGION`` and
        ``SINCH_BASE_URL``; keyword arguments override them and pass other options.
        """
        names = {
            "service_plan_id": ("SINCH_SERVICE_PLAN_ID",),
            "api_token": ("SINCH_API_TOKEN",),
            "project_id": ("SINCH_PROJECT_ID",),
            "key_id": ("SINCH_KEY_ID",),
            "key_secret": ("SINCH_KEY_SECRET",),
            "region": ("SINCH_REGION",),
            "base_url": ("SINCH_BASE_URL",),
        }
        return cls(**{**cls._env_arguments(names, environ), **overrides})

    def _account_field(self) -> str:
        return "project_id" if self.auth_url else "service_plan_id"

    # --- the core request path -----------------------------------------------------------

    def with_options(
        self,
        *,
        retry: RetryPolicy | DefaultType | None = DEFAULT,
        auto_client_reference: bool | None = None,
    ) -> AsyncSmsClient:
        """A view of this client with other per-call options, sharing its session.

        ``await sms.with_options(retry=None).batches.get(batch_id)`` makes one
        attempt only. The view shares the session, credentials and rate limiter;
        closing either closes both.
        """
        return self._with(retry, auto_client_reference)
