"""Logging that never names private things (docs/format.md §8, docs/auth.md
"Secrets and logs").

Every log record passes through `Redactor` before it is written: content
digests anywhere, and the names and references of private repositories
(in /v2/ paths, token scopes, messages) are replaced by short keyed tokens
(`<r:1a2b3c4d>`). The key is random per process, so one run's log can still
be correlated line by line, but nothing in it can be matched against a
digest or a name from outside. Secrets are never handed to a logger at all.

With `log_format = "json"` every record is one JSON object per line (`time`,
`level`, `logger`, `message`, and a record's `fields`, such as the per-request
line of `sealedreg.api.observe`); the same redaction applies to every string
in it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import re
from datetime import datetime, timezone
from typing import Any, Callable
from urllib.parse import unquote

_DIGEST = re.compile(r"(sha256|sha512)(?::|%3[aA])([0-9a-f]{128}|[0-9a-f]{64})(?![0-9a-f])")
_HEX = re.compile(r"(?<![0-9a-f])[0-9a-f]{64,128}(?![0-9a-f])")
_V2_PATH = re.compile(r"/v2/(?P<name>[a-z0-9][a-z0-9._/-]*?)/(?P<kind>manifests|blobs|tags|referrers)"
                      r"(?P<rest>/[^\s\"?]*)?(?P<query>\?[^\s\"]*)?")
_SCOPE = re.compile(r"(repository(?:\([a-z0-9]+\))?:)([a-z0-9][a-z0-9._/-]*)(:)")
_NAME = re.compile(r"[a-z0-9][a-z0-9._-]*(?:/[a-z0-9][a-z0-9._-]*)+")


def _nothing_private(name: str) -> bool:
    return False


class Redactor(logging.Filter):
    """`is_private(repository)` says which names to hide (the registry's policy)."""

    def __init__(self, is_private: Callable[[str], bool] = _nothing_private, key: bytes | None = None) -> None:
        super().__init__()
        self.is_private = is_private
        self._key = key or os.urandom(16)

    def token(self, text: str) -> str:
        return "<r:" + hmac.new(self._key, text.encode(), hashlib.sha256).hexdigest()[:8] + ">"

    def redact(self, text: str) -> str:
        # Clients percent-encode names in queries (from=, scope=): read them decoded.
        text = unquote(text)

        def path(m: re.Match) -> str:
            name, kind, rest = m.group("name"), m.group("kind"), m.group("rest") or ""
            if not self.is_private(name):
                return m.group(0)
            rest = re.sub(r"/([^/]+)$", lambda r: "/" + self.token(r.group(1)), rest)
            query = "?" + self.token(m.group("query")) if m.group("query") else ""
            return f"/v2/{self.token(name)}/{kind}{rest}{query}"

        def scope(m: re.Match) -> str:
            name = m.group(2)
            return m.group(1) + (self.token(name) if self.is_private(name) else name) + m.group(3)

        text = _V2_PATH.sub(path, text)
        text = _SCOPE.sub(scope, text)
        text = _NAME.sub(lambda m: self.token(m.group(0)) if self.is_private(m.group(0)) else m.group(0), text)
        text = _DIGEST.sub(lambda m: f"{m.group(1)}:{self.token(m.group(0))}", text)
        return _HEX.sub(lambda m: self.token(m.group(0)), text)

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a broken record is logged as it is
            return True
        record.msg, record.args = self.redact(message), ()
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):  # structured extras (JSON lines): redacted like the message
            record.fields = {k: self.redact(v) if isinstance(v, str) else v for k, v in fields.items()}
        if record.exc_info and record.exc_info[1] is not None:
            # Tracebacks carry exception messages: redact the rendered text.
            record.exc_text = self.redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line: `time` (UTC, ISO 8601), `level`,
    `logger`, `message`, `exception` (if any), then the record's `fields`."""

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_text:
            doc["exception"] = record.exc_text
        elif record.exc_info:
            doc["exception"] = self.formatException(record.exc_info)
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            doc.update((k, v) for k, v in fields.items() if k not in doc)
        return json.dumps(doc, default=str)


TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def handler(redactor: Redactor, log_format: str = "text", stream: Any = None) -> logging.Handler:
    """A handler writing to `stream` (stderr) every record redacted, as text or
    JSON lines (`log_format`)."""
    out = logging.StreamHandler(stream)
    out.setFormatter(JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT))
    out.addFilter(redactor)
    return out


def configure(level: str, is_private: Callable[[str], bool], log_format: str = "text") -> Redactor:
    """Root logging for `serve`: one handler, every record redacted, as text or JSON lines."""
    redactor = Redactor(is_private)
    root = logging.getLogger()
    root.handlers[:] = [handler(redactor, log_format)]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    return redactor
