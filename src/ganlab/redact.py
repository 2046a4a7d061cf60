"""Secrets out of files and logs: webhook URLs and header values are shown without the parts
that usually carry tokens."""

from __future__ import annotations

from urllib.parse import urlsplit

REDACTED = "<redacted>"


def redact_url(url: str) -> str:
    """``url`` with its credentials, path, query and fragment replaced by ``<redacted>``.

    Example:
        >>> redact_url("https://hooks.example.com/services/T0/B0/XYZ?token=s3cret")
        'https://hooks.example.com/<redacted>'
        >>> redact_url("http://localhost:8080/")
        'http://localhost:8080/'
    """
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    hidden = parts.username or parts.password or parts.query or parts.fragment
    if hidden or parts.path not in ("", "/"):
        return f"{parts.scheme}://{host}/{REDACTED}"
    return f"{parts.scheme}://{host}/"
