"""Filter pieces shared by the apps' filter sets."""

import datetime as dt

from django import forms
from django.core.exceptions import ValidationError
from django_filters import rest_framework as filters
from django_filters.fields import IsoDateTimeField
from rest_framework import exceptions
from rest_framework.filters import BaseFilterBackend, OrderingFilter, SearchFilter


class IdField(forms.IntegerField):
    def __init__(self, *args, **kwargs):
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", 2**63 - 1)
        super().__init__(*args, **kwargs)


class IdFilter(filters.NumberFilter):
    """An integer id (e.g. `?tenant=3`): unknown ids simply match nothing."""

    field_class = IdField


class NoNullCharacters(BaseFilterBackend):
    """Refuse NUL characters in query parameters (PostgreSQL cannot compare them)."""

    def filter_queryset(self, request, queryset, view):
        bad = {
            name: ["Null characters are not allowed."]
            for name, values in request.query_params.lists()
            if "\x00" in name or any("\x00" in value for value in values)
        }
        if bad:
            raise exceptions.ValidationError(bad)
        return queryset


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


class RoleSearchFilter(SearchFilter):
    """`?search=` over `view.search_fields`, plus `view.staff_search_fields` for platform
    roles: a tenant's search never matches what it is not shown (job errors, nodes)."""

    def get_search_fields(self, view, request):
        fields = list(super().get_search_fields(view, request) or [])
        access = getattr(view, "access", None)
        if access is not None and access.sees_all_tenants:
            fields += list(getattr(view, "staff_search_fields", []))
        return fields


class StrictOrderingFilter(OrderingFilter):
    """`?ordering=` over `view.ordering_fields` (`-` for descending); an unknown field is a
    400 naming the parameter and the allowed values, never a silently ignored request."""

    def get_ordering(self, request, queryset, view):
        given = request.query_params.get(self.ordering_param, "")
        terms = [term.strip() for term in given.split(",") if term.strip()]
        if terms:
            context = {"request": request}
            allowed = [name for name, _ in self.get_valid_fields(queryset, view, context)]
            unknown = [term for term in terms if term.removeprefix("-") not in allowed]
            if unknown:
                raise exceptions.ValidationError(
                    {
                        self.ordering_param: [
                            f"Unknown ordering {', '.join(unknown)}; allowed: "
                            f"{', '.join(allowed)} (a leading - sorts descending)."
                        ]
                    }
                )
        return super().get_ordering(request, queryset, view)
