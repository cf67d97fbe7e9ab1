"""Passwords never leave the process in a log line, an access log or an error page.

Two shapes carry secrets into text: the userinfo of a URL
(``redis://:secret@host``, ``postgres://user:secret@db``) and InfluxDB-style
credentials in a query string (``/write?u=telegraf&p=secret``). ``redact``
masks both wherever they appear; the logging formatters, the gunicorn access
logger and the error reporter below run every line through it.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from django.http import HttpRequest
from django.utils.log import ServerFormatter
from django.utils.regex_helper import _lazy_re_compile
from django.views.debug import ExceptionReporter, SafeExceptionReporterFilter

MASK = "***"
# Query parameters whose values are secrets (InfluxDB's ``p``, tokens, keys).
SECRET_PARAMS = ("p", "password", "passwd", "pwd", "token", "access_token", "api_key", "apikey", "secret", "key")

# scheme://user:password@  ->  scheme://user:***@   (the user may be empty: redis://:pw@host)
_URL_PASSWORD = re.compile(r"(?P<head>\b[a-z][a-z0-9+.\-]*://[^:/?#@\s'\"]*):(?P<secret>[^@/?#\s'\"]+)@", re.I)
# ?p=secret / &password=secret  (also inside a larger text such as an access-log line)
_QUERY_SECRET = re.compile(
    r"(?P<head>(?:^|[?&;\s'\"])(?:" + "|".join(SECRET_PARAMS) + r")=)(?P<secret>[^&;\s'\"#]*)", re.I
)


def redact(text: str) -> str:
    """``text`` with URL passwords and secret query-parameter values replaced by ``***``."""
    if "=" not in text and "@" not in text:
        return text  # the common case: nothing that could be a credential
    text = _URL_PASSWORD.sub(lambda m: f"{m['head']}:{MASK}@", text)
    return _QUERY_SECRET.sub(lambda m: f"{m['head']}{MASK}" if m["secret"] else m[0], text)


class RedactingFormatter(logging.Formatter):
    """Formats as usual, then masks credentials in the whole line, traceback included."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


class RedactingServerFormatter(ServerFormatter):
    """runserver's access log (``django.server``), which logs the request line with its query string."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


class SafeReporterFilter(SafeExceptionReporterFilter):
    """Django's filter, also active under DEBUG, also masking passwords inside URLs.

    The debug page lists settings and, under runserver, the whole environment
    (``DATABASE_URL``, ``CELERY_BROKER_URL``) in ``META``: their names don't
    look secret, their passwords are.
    """

    hidden_settings = _lazy_re_compile("API|AUTH|TOKEN|KEY|SECRET|PASS|SIGNATURE|CREDENTIAL|HTTP_COOKIE", flags=re.I)

    def is_active(self, request: HttpRequest | None) -> bool:
        return True

    def cleanse_setting(self, key: Any, value: Any) -> Any:
        cleansed = super().cleanse_setting(key, value)
        return redact(cleansed) if isinstance(cleansed, str) else cleansed

    def get_traceback_frame_variables(self, request: HttpRequest | None, tb_frame) -> list[tuple[str, Any]]:
        """Also masks variables named like secrets (``password``, ``conn_params['password']``) that no
        ``@sensitive_variables`` marks: a database driver's frames hold the password in plain text."""
        cleansed = []
        for name, value in super().get_traceback_frame_variables(request, tb_frame):
            if self.hidden_settings.search(name):
                value = self.cleansed_substitute
            elif isinstance(value, (dict, list, tuple)):
                value = self.cleanse_setting("", value)
            cleansed.append((name, value))
        return cleansed

    def cleanse_special_types(self, request: HttpRequest | None, value: Any) -> Any:
        value = super().cleanse_special_types(request, value)
        if isinstance(value, HttpRequest):
            return redact(repr(value))  # its repr carries the full path with the query string
        if isinstance(value, str):
            return redact(value)
        return value


class SafeReporter(ExceptionReporter):
    """The debug page and error e-mails with the request URL, query, frames and message redacted."""

    def get_traceback_data(self) -> dict[str, Any]:
        data = super().get_traceback_data()
        for frame in data.get("frames", []):
            if "vars" in frame:
                frame["vars"] = [(name, redact(value)) for name, value in frame["vars"]]
        if "request_GET_items" in data:
            data["request_GET_items"] = [
                (key, MASK if key.lower() in SECRET_PARAMS else value) for key, value in data["request_GET_items"]
            ]
        for key in ("request_insecure_uri", "exception_value"):
            if isinstance(data.get(key), str):
                data[key] = redact(data[key])
        return data
