"""The base of every app's `filtersets.py`: one FilterSet per model, used by the API's list
endpoints (`filterset_class`) and by the portal's list pages (on their GET parameters).

A filterset is told whether the requester sees every tenant (`sees_all_tenants`): a filter
in `staff_only` is then a field error for anyone else, and `q` searches
`staff_search_fields` too (a tenant's search never matches what it is not shown).
"""

import datetime as dt
import re
from functools import reduce
from operator import or_

from django import forms
from django.core.exceptions import ValidationError
from django.db.models import Q
from django_filters import rest_framework as filters
from django_filters.fields import IsoDateTimeField


class IdField(forms.IntegerField):
    def __init__(self, *args, **kwargs):
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", 2**63 - 1)
        super().__init__(*args, **kwargs)


class IdFilter(filters.NumberFilter):
    """An integer id (e.g. `?tenant=3`): unknown ids simply match nothing."""

    field_class = IdField


class AddressFilter(filters.CharFilter):
    """An IPv4 or IPv6 address (anything else is a 400, not a database error)."""

    field_class = forms.GenericIPAddressField


OUT_OF_RANGE = "This date and time is out of range once converted to UTC."


def check_utc_range(value: dt.datetime | None) -> dt.datetime | None:
    """`value`, if it exists in UTC (0001-01-01T00:00:00+14:00 does not): queries and
    answers compare datetimes in UTC, so one out of range would end in a 500."""
    if value is not None and value.tzinfo is not None:
        try:
            value.astimezone(dt.UTC)
        except OverflowError:
            raise ValidationError(OUT_OF_RANGE, code="invalid") from None
    return value


class UtcIsoDateTimeField(IsoDateTimeField):
    def to_python(self, value):
        return check_utc_range(super().to_python(value))


class DateTimeFilter(filters.IsoDateTimeFilter):
    """An ISO 8601 datetime (`?created_after=`); one out of range in UTC is a 400."""

    field_class = UtcIsoDateTimeField


class StaffOnly:
    """A validator refusing any value: a staff-only filter given by someone else."""

    def __init__(self, message: str):
        self.message = message

    def __call__(self, value):
        raise ValidationError(self.message, code="staff_only")


class BaseFilterSet(filters.FilterSet):
    staff_only: dict[str, str] = {}  # filter name -> why others may not use it

    def __init__(self, data=None, queryset=None, *, request=None, prefix=None,
                 sees_all_tenants: bool = False):  # fmt: skip
        super().__init__(data, queryset, request=request, prefix=prefix)
        self.sees_all_tenants = sees_all_tenants

    @property
    def form(self):
        if not hasattr(self, "_form"):
            form = super().form
            if not self.sees_all_tenants:
                for name, message in self.staff_only.items():
                    field = form.fields[name]
                    field.validators = [*field.validators, StaffOnly(message)]
        return self._form


SEARCH_TERMS = re.compile(r"[\s,]+")


class SearchFilterSet(BaseFilterSet):
    """Adds `q` (and its first name, `search`): every term, split on spaces and commas,
    matches one of `search_fields` (lookups such as "name__icontains")."""

    q = filters.CharFilter(method="filter_search", label="Search")
    search = filters.CharFilter(method="filter_search", label="Search (the same as q)")

    search_fields: tuple[str, ...] = ()
    staff_search_fields: tuple[str, ...] = ()

    def filter_search(self, queryset, name, value):
        for term in SEARCH_TERMS.split(value.strip()):
            if term:
                queryset = queryset.filter(self.term_matches(term))
        return queryset

    def term_matches(self, term: str) -> Q:
        fields = [*self.search_fields, *(self.staff_search_fields if self.sees_all_tenants else ())]
        return reduce(or_, (Q(**{field: term}) for field in fields), Q(pk__in=[]))
