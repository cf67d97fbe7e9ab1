"""A JSON parser that refuses bodies too deeply nested to be anything this API takes.

Python's json decoder recurses once per level: a body of 100,000 ``[`` raises
RecursionError, which DRF's JSONParser does not catch (a 500). No field of
this API is nested deeper than a few levels, so anything past MAX_DEPTH is a
400 saying so, checked without recursion. Body size is capped before any
parser runs (automigrate.api.errors, DATA_UPLOAD_MAX_MEMORY_SIZE).
"""

from __future__ import annotations

from typing import Any

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

MAX_DEPTH = 32


def nesting_depth(value: Any) -> int:
    """How many arrays/objects deep ``value`` goes (a scalar is 0), iteratively."""
    deepest = 0
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, depth)
        if deepest > MAX_DEPTH:
            return deepest
        stack.extend((child, depth + 1) for child in children)
    return deepest


class BoundedJSONParser(JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError(f"JSON parse error: nested too deeply (at most {MAX_DEPTH} levels)") from None
        if nesting_depth(data) > MAX_DEPTH:
            raise ParseError(f"JSON parse error: nested too deeply (at most {MAX_DEPTH} levels)")
        return data
