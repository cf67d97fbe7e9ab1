"""gunicorn reads ./gunicorn.conf.py by default: run it from the project's root.

The access log (on with --access-logfile) never shows passwords from query
strings (/write?u=...&p=...); see automigrate/gunicorn_logging.py.
"""

logger_class = "automigrate.gunicorn_logging.RedactingGunicornLogger"
