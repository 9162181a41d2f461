from django.urls import reverse
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from apps.api.serializers import StaffOnlyFieldsMixin
from apps.jobs.models import Job, JobStep
from apps.jobs.selectors import likely_cause
from apps.jobs.step_labels import failed_while

HIDDEN_DETAILS = "The operators can see the details."


class JobStepSerializer(StaffOnlyFieldsMixin, serializers.ModelSerializer):
    """A step; its `output` (device commands and answers) and `data` (what it found, as
    structure: sessions, routes, diff, counts) are shown to platform roles only. `label`
    says what it does in plain words."""

    label = serializers.CharField(read_only=True)

    class Meta:
        model = JobStep
        fields = ["attempt", "position", "name", "label", "state", "started", "finished",
                  "output", "data"]  # fmt: skip
        staff_only_fields = ["output", "data"]


class JobTargetSerializer(serializers.Serializer):
    type = serializers.CharField(help_text='e.g. "compute.virtualmachine"')
    id = serializers.IntegerField()
    repr = serializers.CharField()


class LikelyCauseSerializer(serializers.Serializer):
    cause = serializers.CharField(help_text="What the failure most likely means.")
    next_step = serializers.CharField(help_text='What to do, ending "then Retry." or so.')


class JobSerializer(StaffOnlyFieldsMixin, serializers.ModelSerializer):
    """A background run. Tenants see a plain `error` (platform roles the device's words,
    who acknowledged a failure and when, and which worker runs it with its last heartbeat)."""

    url = serializers.SerializerMethodField()
    target = serializers.SerializerMethodField()
    acknowledged_by = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )

    class Meta:
        model = Job
        fields = [
            "id", "url", "kind", "state", "target", "tenant", "attempts", "error", "created",
            "started", "finished", "acknowledged", "acknowledged_by", "worker", "heartbeat",
        ]  # fmt: skip
        staff_only_fields = ["acknowledged", "acknowledged_by", "worker", "heartbeat"]

    @extend_schema_field(serializers.CharField())
    def get_url(self, job: Job) -> str:
        return reverse("api:job-detail", args=[job.pk])

    @extend_schema_field(JobTargetSerializer(allow_null=True))
    def get_target(self, job: Job):
        if not job.target_type_id:
            return None
        ct = job.target_type
        return {"type": f"{ct.app_label}.{ct.model}", "id": job.target_id, "repr": job.target_repr}

    def to_representation(self, job: Job):
        data = super().to_representation(job)
        if data.get("error") and not self.context.get("sees_all_tenants", False):
            # The error names devices, addresses and shell commands: tenants get what the
            # portal shows them.
            failed = [s["name"] for s in data.get("steps", ()) if s["state"] == "failed"]
            data["error"] = (
                f"{failed_while(failed[-1])} {HIDDEN_DETAILS}"
                if failed
                else f"The job failed. {HIDDEN_DETAILS}"
            )
        return data


class JobDetailSerializer(JobSerializer):
    """A job with its steps (every attempt) and, when it failed, the error naming the step
    and (platform roles) its likely cause in words."""

    steps = JobStepSerializer(many=True, read_only=True)
    likely_cause = serializers.SerializerMethodField()

    class Meta(JobSerializer.Meta):
        fields = [*JobSerializer.Meta.fields, "likely_cause", "steps"]
        staff_only_fields = [*JobSerializer.Meta.staff_only_fields, "likely_cause"]

    @extend_schema_field(LikelyCauseSerializer(allow_null=True))
    def get_likely_cause(self, job: Job):
        found = likely_cause(job)
        return None if found is None else {"cause": found.cause, "next_step": found.next_step}
