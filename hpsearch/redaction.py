"""Credentials out of everything hpsearch prints or writes.

The one redaction, applied where text leaves the process: JSON and reports
written to storage, the CLI's output streams, exported models. A new option
that takes a location needs nothing of its own. No imports beyond ``re``, so
the CLI can wrap its streams before anything else loads.
"""

from __future__ import annotations

import re
from typing import Any

# Every pattern here runs in time linear in the text: hpsearch redacts data too
# (a 1 MB category), where a backtracking pattern would hang.
#
# A location in text: scheme://, then up to whitespace, a quote or an angle bracket.
# Only these are redacted, so data that merely looks like an option (a category
# "?keyboard=x", minified JavaScript in a report) is never touched.
_URI = re.compile(r"[A-Za-z][A-Za-z0-9+.-]{0,31}://[^\s\"'<>]*")
# An option of a URI; its value ends at the next option (or a "?" or ";" that may
# start one inside a value), a fragment or a backslash (a URI inside escaped JSON).
_OPTION = re.compile(r"(?<=[?&;])([\w.-]+)=([^?&;#\\]*)")
# Options that carry credentials: pyarrow's access_key/secret_key/session_token,
# GCS's access_token, Azure's account_key and SAS sig, HDFS's kerb_ticket, and any
# *key/*secret/*token/*password a future filesystem adds. Over-redacting is harmless.
_SECRET_NAME = re.compile(r"(?i)key|secret|token|passw(?:or)?d|credential|signature|ticket|^sig$")


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
    scheme, _, rest = uri.partition("://")
    cut = min((i for i in (rest.find("?"), rest.find("#")) if i >= 0), default=len(rest))
    head, tail = rest[:cut], rest[cut:]
    return f"{scheme}://{_redact_userinfo(head)}{_OPTION.sub(_redact_option, tail)}"


def _redact_userinfo(head: str) -> str:
    """``user:password@host/path`` -> ``***@host/path``.

    The authority ends at the first "/"; but a secret written unencoded may
    hold "/" or "@" (pyarrow then quotes the whole URI in its error), so an
    authority with a ":" that is not a port's runs to the last "@". A path
    such as ``bucket/runs/lr:0.1@v2`` is left alone.
    """
    authority = head.split("/", 1)[0]
    at = authority.rfind("@")
    if at >= 0 and ":" in authority[:at]:
        return "***" + head[at:]
    colon = authority.find(":")
    if colon >= 0 and not authority[colon + 1 :].isdigit() and "@" in head:
        return "***" + head[head.rfind("@") :]
    return head


def _redact_option(match: re.Match[str]) -> str:
    name, value = match.group(1), match.group(2)
    if _SECRET_NAME.search(name):
        return f"{name}=***"
    # A location inside an option (endpoint_override=http://user:pw@host).
    return f"{name}={redact(value)}" if "://" in value else match.group(0)


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
