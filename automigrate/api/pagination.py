"""Limit/offset pages whose parameters are checked, not guessed."""

from rest_framework.exceptions import ValidationError
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.utils.urls import remove_query_param, replace_query_param

from automigrate import paging


class StrictLimitOffsetPagination(LimitOffsetPagination):
    """LimitOffsetPagination that answers a bad `limit` or `offset` with a 400 naming it.

    DRF's own falls back to the default page for ?limit=abc and to the start
    for ?offset=-1, so a typo silently returns a different page than asked for.
    The limit has a ceiling because the database's LIMIT is a 64-bit integer.
    """

    max_limit = 1000

    def get_limit(self, request):
        raw = request.query_params.get(self.limit_query_param)
        if raw is None:
            return self.default_limit
        return self._whole(raw, self.limit_query_param, minimum=1, maximum=self.max_limit)

    def get_offset(self, request):
        raw = request.query_params.get(self.offset_query_param)
        if raw is None:
            return 0
        # No ceiling needed: an offset past the last row returns an empty page without a query.
        return self._whole(raw, self.offset_query_param, minimum=0, maximum=None)

    @staticmethod
    def _whole(raw: str, name: str, minimum: int, maximum: int | None) -> int:
        allowed = f"a whole number from {minimum} to {maximum}" if maximum else f"a whole number, at least {minimum}"
        # isascii: int() also takes other scripts' digits, and "1_000".
        if not (raw.isascii() and raw.isdigit()):
            raise ValidationError({name: [f"'{raw[:40]}' is not {allowed}"]})
        # Past 20 digits it is out of any range; int() of thousands of digits even raises.
        value = int(raw) if len(raw) <= 20 else None
        if value is None or value < minimum or (maximum is not None and value > maximum):
            raise ValidationError({name: [f"{raw[:40]} is out of range: use {allowed}"]})
        return value

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        bounds = {self.limit_query_param: {"minimum": 1, "maximum": self.max_limit},
                  self.offset_query_param: {"minimum": 0}}
        for parameter in parameters:
            parameter["schema"].update(bounds.get(parameter["name"], {}))
        return parameters


class EventPagination(StrictLimitOffsetPagination):
    """Event log pages: ``?before=<cursor>`` keyset pages and an estimated ``count``.

    ``next`` is a keyset link in the default order (its cost does not grow
    with depth); ``offset`` still works for the first pages. ``count`` is exact
    up to paging.COUNT_CAP rows and ``count_kind`` says when it is not
    ("estimate": planner statistics, "at_least": the cap was reached).
    Another ``ordering`` than the default pages by offset, as before.
    """

    def paginate_queryset(self, queryset, request, view=None):
        self.request = request
        self.limit = self.get_limit(request)
        raw = request.query_params.get("before")
        self.keyset = tuple(queryset.query.order_by) == ("-time", "-id")
        if raw is not None and not self.keyset:
            raise ValidationError({"before": ["cursors page the default order only: drop 'ordering' or 'before'"]})
        if raw is not None and request.query_params.get(self.offset_query_param) is not None:
            raise ValidationError({"before": ["use either 'before' or 'offset', not both"]})
        self.counted = paging.estimated_count(queryset)
        self.count = self.counted.value
        if raw is not None:
            try:
                before = paging.decode_cursor(raw, "before")
            except paging.CursorError as exc:
                raise ValidationError({"before": [str(exc)]}) from exc
            self.offset = None
            # One extra row says whether there is a next page.
            rows = paging.keyset_page(queryset, self.limit + 1, before=before, count=self.counted).object_list
        else:
            self.offset = self.get_offset(request)
            # Past any table (and past the database's 64-bit OFFSET): an empty page, no query.
            far = self.offset >= 2**62 or (self.counted.kind == "exact" and self.offset >= self.count)
            rows = [] if far else list(queryset[self.offset:self.offset + self.limit + 1])
        self.has_more = len(rows) > self.limit
        self.page = rows[: self.limit]
        return self.page

    def get_next_link(self):
        if not self.has_more:
            return None
        if not self.keyset:
            url = self.request.build_absolute_uri()
            return replace_query_param(url, self.offset_query_param, self.offset + self.limit)
        last = self.page[-1]
        url = remove_query_param(self.request.build_absolute_uri(), self.offset_query_param)
        return replace_query_param(url, "before", paging.encode_cursor(last.time, last.pk))

    def get_previous_link(self):
        if self.offset is None:
            return None  # a keyset page's newer neighbour: the page whose `next` led here
        return super().get_previous_link()

    def get_paginated_response(self, data):
        response = super().get_paginated_response(data)
        response.data["count_kind"] = self.counted.kind
        return response

    def get_paginated_response_schema(self, schema):
        schema = super().get_paginated_response_schema(schema)
        schema["properties"]["count_kind"] = {"type": "string", "enum": ["exact", "estimate", "at_least"]}
        return schema

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        parameters.append({"name": "before", "required": False, "in": "query",
                           "description": "cursor from a page's `next` link: the rows older than it",
                           "schema": {"type": "string"}})
        return parameters
