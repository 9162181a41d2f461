"""Serializers every app's API shares: the error body and the link to a Job."""

from django.urls import reverse
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

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


class CreateOnlyFieldsMixin:
    """Fields in Meta.create_only_fields may be given on create and are read-only after."""

    def get_fields(self):
        fields = super().get_fields()
        if self.instance is not None:
            for name in getattr(self.Meta, "create_only_fields", ()):
                if name in fields:
                    fields[name].read_only = True
        return fields


def started(serializer_data: dict, job: Job) -> dict:
    """The 202 body of a write that started a job: the object and its `job` link."""
    return {**serializer_data, "job": JobLinkSerializer(job).data}
