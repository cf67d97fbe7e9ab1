"""gunicorn's logger with the request line and query string masked (named by gunicorn.conf.py).

gunicorn's access log writes ``%(r)s``, the request line with its query
string: ``/write?u=telegraf&p=secret`` would put the password on disk.
"""

from __future__ import annotations

from gunicorn.glogging import Logger

from automigrate.redact import redact


class RedactingGunicornLogger(Logger):
    def atoms(self, resp, req, environ, request_time) -> dict:
        atoms = super().atoms(resp, req, environ, request_time)
        for key in ("r", "q"):
            if isinstance(atoms.get(key), str):
                atoms[key] = redact(atoms[key])
        # Header atoms (%({authorization}i)s) would carry Basic credentials and tokens.
        for key in [k for k in atoms if k.lower() in ("{authorization}i", "{cookie}i", "{proxy-authorization}i")]:
            atoms[key] = "-"
        return atoms
