"""One clock everywhere: Django's own date rendering (admin lists and forms, ``{{ value }}``)
in the format the dashboard and CLI use, ``2026-12-01 19:26 UTC``, instead of "Dec. 1, 2026, 7:24 p.m."."""

DATETIME_FORMAT = "Y-m-d H:i T"
SHORT_DATETIME_FORMAT = "Y-m-d H:i T"
DATE_FORMAT = "Y-m-d"
SHORT_DATE_FORMAT = "Y-m-d"
TIME_FORMAT = "H:i"
DATETIME_INPUT_FORMATS = ["%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M:%S.%f", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M"]
