"""The API's filter backends; the FilterSets themselves are the app's (automigrate.filters)."""

from rest_framework.exceptions import ValidationError
from rest_framework.filters import OrderingFilter, SearchFilter

from automigrate.filters import EventFilter, GuestFilter, HostFilter, MigrationFilter, RuleFilter

__all__ = [
    "EventFilter", "GuestFilter", "HostFilter", "MigrationFilter", "RuleFilter",
    "StableOrderingFilter", "StrictSearchFilter",
]


class StableOrderingFilter(OrderingFilter):
    """Ordering that always ends with the primary key, so limit/offset pages never overlap."""

    def get_ordering(self, request, queryset, view):
        ordering = super().get_ordering(request, queryset, view)
        if not ordering:
            return ordering  # the view's queryset order stands; each one ends on a unique key
        if not any(term.lstrip("-") in ("pk", "id") for term in ordering):
            ordering = [*ordering, "pk"]
        return ordering


class StrictSearchFilter(SearchFilter):
    """Search that refuses NUL characters with a 400 (PostgreSQL cannot compare text with them)."""

    def get_search_terms(self, request):
        terms = super().get_search_terms(request)
        if any("\x00" in term for term in terms):
            raise ValidationError({self.search_param: ["must not contain NUL characters"]})
        return terms
