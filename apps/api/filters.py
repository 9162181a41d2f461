"""Filter pieces shared by the apps' filter sets."""

from django import forms
from django_filters import rest_framework as filters
from rest_framework import exceptions
from rest_framework.filters import BaseFilterBackend


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
