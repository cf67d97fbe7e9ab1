"""Limit/offset pages whose parameters are checked, not guessed."""

from rest_framework.exceptions import ValidationError
from rest_framework.pagination import LimitOffsetPagination


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
