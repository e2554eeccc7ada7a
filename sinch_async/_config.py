"""Regions, hosts and the checks on credentials and URLs made before any network I/O."""

from __future__ import annotations

import ipaddress
from typing import Final
from urllib.parse import quote

from yarl import URL

from sinch_async.errors import SinchValidationError

__all__ = [
    "DEFAULT_AUTH_URL",
    "OAUTH_REGIONS",
    "REGIONS",
    "check_url",
    "default_base_url",
    "sms_prefix",
]

REGIONS: Final = ("us", "eu", "au", "br", "ca")
"""Regions of the SMS API with service-plan (API token) credentials."""

OAUTH_REGIONS: Final = ("us", "eu")
"""Regions where project (OAuth2) credentials work for SMS."""

DEFAULT_AUTH_URL: Final = "https://auth.sinch.com/oauth2/token"


def default_base_url(region: str, *, oauth: bool) -> str:
    """Sinch's host for a region: ``zt.{region}`` for OAuth2, ``{region}`` otherwise."""
    allowed = OAUTH_REGIONS if oauth else REGIONS
    if region not in allowed:
        kind = "project (OAuth2) credentials" if oauth else "the SMS API"
        raise SinchValidationError(
            "region",
            f"unknown region {region!r} for {kind}; valid regions: {', '.join(allowed)}",
            limit=" | ".join(allowed),
        )
    if oauth:
        return f"https://zt.{region}.sms.api.sinch.com"
    return f"https://{region}.sms.api.sinch.com"


def _is_loopback(host: str | None) -> bool:
    if not host:
        return False
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_url(value: str, *, field: str, allow_insecure_http: bool) -> str:
    """Validate a base or auth URL and return it without a trailing slash.

    Plain ``http://`` is only accepted for loopback hosts (a local simulator or
    test server) unless ``allow_insecure_http`` is set, so that a token is
    never sent in clear text by accident.
    """
    try:
        url = URL(value)
    except (TypeError, ValueError) as exc:
        raise SinchValidationError(field, f"not a valid URL: {exc}") from None
    if url.scheme not in ("http", "https") or not url.host:
        raise SinchValidationError(
            field, f"must be an absolute http(s) URL such as 'https://host', got {value!r}"
        )
    if url.scheme == "http" and not allow_insecure_http and not _is_loopback(url.host):
        raise SinchValidationError(
            field,
            f"plain http:// to a non-loopback host ({url.host}) would send credentials in "
            "clear text; use https:// or pass allow_insecure_http=True",
        )
    if url.query_string or url.fragment:
        raise SinchValidationError(field, "must not contain a query string or fragment")
    return value.rstrip("/")


def sms_prefix(base_url: str, account_id: str) -> str:
    """The SMS API's URL prefix ``{host}/xms/v1/{account_id}`` for a (checked) base URL.

    ``base_url`` may be the host alone, end in ``/xms/v1``, or already end in
    ``/xms/v1/{account_id}`` (the form a simulator prints), so all three work as given.
    A suffix naming another service plan or project is refused rather than doubled.
    """
    account = quote(account_id, safe="")
    base = base_url.rstrip("/")
    head, sep, tail = base.rpartition("/xms/v1")
    if sep and tail in ("", f"/{account}", f"/{account_id}"):
        base = head
    elif sep and tail.count("/") == 1:
        raise SinchValidationError(
            "base_url",
            f"ends in /xms/v1{tail}, but the client's ID is {account_id!r}; give the host "
            "alone (or end it in /xms/v1/" + account + ")",
        )
    return f"{base}/xms/v1/{account}"
