"""Serializers every app's API shares: the error body and the link to a Job."""

from django.core.exceptions import ValidationError as DjangoValidationError
from django.urls import reverse
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from apps.core.filtersets import OUT_OF_RANGE, check_utc_range
from apps.core.validators import parse_asn
from apps.jobs.models import Job


class ErrorDetailSerializer(serializers.Serializer):
    status = serializers.IntegerField(help_text="The HTTP status, repeated.")
    code = serializers.CharField(help_text="Machine-readable, e.g. `pool_exhausted`.")
    message = serializers.CharField()
    fields = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        help_text="Messages per request field at fault (`non_field_errors` for the rest).",
    )


class ErrorSerializer(serializers.Serializer):
    """The body of every 4xx answer."""

    error = ErrorDetailSerializer()


class JobLinkSerializer(serializers.ModelSerializer):
    """The job a write started: follow `url` for its steps and outcome."""

    url = serializers.SerializerMethodField()

    class Meta:
        model = Job
        fields = ["id", "url", "kind", "state"]

    @extend_schema_field(serializers.CharField())
    def get_url(self, job: Job) -> str:
        return reverse("api:job-detail", args=[job.pk])


CREATE_ONLY = "This field can't be changed after creation."
READ_ONLY = "This field is read-only."


def refuse_read_only_writes(serializer: serializers.Serializer) -> None:
    """An update that gives a new value to a field that can't change is refused (400
    naming the field) rather than answered 200 with nothing changed. The current value
    given back (an object read, edited and sent whole) is accepted."""
    data = serializer.initial_data
    if not hasattr(data, "keys"):
        return  # not an object: the serializer's own validation says so
    create_only = getattr(getattr(serializer, "Meta", None), "create_only_fields", ())
    errors = {}
    for name, field in serializer.fields.items():
        if field.read_only and name in data and not _is_current(field, data[name], serializer):
            errors[name] = [CREATE_ONLY if name in create_only else READ_ONLY]
    if errors:
        raise serializers.ValidationError(errors)


def _is_current(field: serializers.Field, given, serializer: serializers.Serializer) -> bool:
    attribute = field.get_attribute(serializer.instance)
    current = None if attribute is None else field.to_representation(attribute)
    return given == current or (given is not None and str(given) == str(current))


class CreateOnlyFieldsMixin:
    """Fields in Meta.create_only_fields may be given on create and are read-only after
    (an update giving them a new value is a 400, see refuse_read_only_writes)."""

    def get_fields(self):
        fields = super().get_fields()
        if self.instance is not None:
            for name in getattr(self.Meta, "create_only_fields", ()):
                if name in fields:
                    fields[name].read_only = True
        return fields


class StaffOnlyFieldsMixin:
    """Fields in Meta.staff_only_fields are shown to platform roles only.

    The view says who asks (`sees_all_tenants` in the serializer context, see ApiViewSet);
    without it the fields are left out. The schema still documents them.
    """

    def to_representation(self, instance):
        data = super().to_representation(instance)
        if not self.context.get("sees_all_tenants", False):
            for name in getattr(self.Meta, "staff_only_fields", ()):
                data.pop(name, None)
        return data


def with_job_link(serializer_class: type) -> type:
    """`serializer_class` plus the `job` link: the schema of a 202 answer (see `started`).

    Named like the class it extends (VirtualMachineSerializer -> VirtualMachineStarted...),
    which is also the name of its component in the OpenAPI schema.
    """
    meta = type(
        "Meta", (serializer_class.Meta,), {"fields": [*serializer_class.Meta.fields, "job"]}
    )
    name = serializer_class.__name__.removesuffix("Serializer") + "StartedSerializer"
    doc = f"{(serializer_class.__doc__ or '').strip()} With the job started for it (202)."
    attrs = {"job": JobLinkSerializer(read_only=True), "Meta": meta,
             "__module__": serializer_class.__module__, "__doc__": doc.strip()}  # fmt: skip
    return type(name, (serializer_class,), attrs)


def started(serializer_data: dict, job: Job) -> dict:
    """The 202 body of a write that started a job: the object and its `job` link."""
    return {**serializer_data, "job": JobLinkSerializer(job).data}


class AsnField(serializers.IntegerField):
    """An AS number, plain (64512) or asdot ("1.10"), answered as an integer; one message
    when it is not one."""

    def to_internal_value(self, data):
        try:
            return parse_asn(data)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.messages[0]) from None


class UtcDateTimeField(serializers.DateTimeField):
    """A DateTimeField whose value exists in UTC (else a 400 naming the field)."""

    def to_internal_value(self, value):
        value = super().to_internal_value(value)
        try:
            return check_utc_range(value)
        except DjangoValidationError:
            raise serializers.ValidationError(OUT_OF_RANGE) from None
