"""Credentials out of everything hpsearch prints or writes.

The one redaction, applied where text leaves the process: JSON and reports
written to storage, the CLI's output streams, exported models. A new option
that takes a location needs nothing of its own. No imports beyond ``re``, so
the CLI can wrap its streams before anything else loads.
"""

from __future__ import annotations

import re
from typing import Any

# A location in text: scheme://, then up to whitespace, a quote or an angle bracket.
# Only these are redacted, so data that merely looks like an option (a category
# "?keyboard=x", minified JavaScript in a report) is never touched.
_URI = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s\"'<>]*")
# Options that carry credentials: pyarrow's access_key/secret_key/session_token,
# GCS's access_token, Azure's account_key and SAS sig, HDFS's kerb_ticket, and any
# *key/*secret/*token/*password a future filesystem adds. The value ends at the next
# option, fragment or backslash (a URI inside escaped JSON). Over-redacting is harmless.
_SECRET_OPTION = re.compile(
    r"(?i)(?<=[?&;])"
    r"((?:[\w.-]*?(?:key|secret|token|passw(?:or)?d|credential|signature|ticket)[\w.-]*)|sig)"
    r"=[^&#\\]*"
)
# user:password@ before the host (pyarrow reads S3 keys from there): up to the last
# "@" before any "?" or "#", since an unencoded secret may hold "/" or "@".
_USERINFO = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*://)[^?#]*?:[^?#]*@(?=[^@?#]*(?:[?#]|$))")


def redact(text: str) -> str:
    """``text`` with every credential a location can carry blanked.

    Works on a bare URI and on any text holding one (a line, JSON, HTML):
    ``s3://b/x?secret_key=abc`` -> ``s3://b/x?secret_key=***``,
    ``s3://KEY:SECRET@b/x`` -> ``s3://***@b/x``. Everything hpsearch prints
    or writes passes through here: see :func:`redact_data`, ``UserError`` and
    the CLI's streams.
    """
    return _URI.sub(lambda m: _redact_uri(m.group(0)), text)


def _redact_uri(uri: str) -> str:
    uri = _USERINFO.sub(lambda m: f"{m.group(1)}***@", uri)
    return _SECRET_OPTION.sub(lambda m: f"{m.group(1)}=***", uri)


def redact_data(data: Any) -> Any:
    """JSON-like ``data`` with :func:`redact` applied to every string in it."""
    if isinstance(data, str):
        return redact(data)
    if isinstance(data, dict):
        return {redact_data(k): redact_data(v) for k, v in data.items()}
    if isinstance(data, list | tuple):
        return [redact_data(v) for v in data]
    return data


def has_credentials(location: str) -> bool:
    """Whether ``location`` carries a credential that :func:`redact` would blank."""
    return redact(location) != location
