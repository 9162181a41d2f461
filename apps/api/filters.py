"""Filter backends of every list endpoint: NUL characters refused, the view's filterset
(`apps/<app>/filtersets.py`, shared with the portal) told who is asking, strict ordering."""

from django_filters.rest_framework import DjangoFilterBackend
from rest_framework import exceptions
from rest_framework.filters import BaseFilterBackend, OrderingFilter

from apps.api.access import get_access


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


class RoleFilterBackend(DjangoFilterBackend):
    """The view's `filterset_class`, told whether the requester sees every tenant (its
    staff-only filters and searches)."""

    def get_filterset_kwargs(self, request, queryset, view):
        kwargs = super().get_filterset_kwargs(request, queryset, view)
        return {**kwargs, "sees_all_tenants": get_access(request).sees_all_tenants}


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
