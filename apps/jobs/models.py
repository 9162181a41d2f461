"""Every background run: what it works on, its steps as they happen, and how it ended."""

from django.conf import settings
from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.db.models import Q

from apps.jobs import registry
from apps.jobs.step_labels import step_label


class Job(models.Model):
    """One run of a workflow (see DESIGN.md's table); steps are recorded as JobStep rows."""

    class State(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    ACTIVE_STATES = (State.QUEUED, State.RUNNING)  # not finished yet

    # job_set_state (apps/jobs/runner.py); a retried attempt stays `running`, a finished
    # job is never reopened (a retry is a new job).
    TRANSITIONS: dict[str, frozenset[str]] = {
        State.QUEUED: frozenset({State.RUNNING}),
        State.RUNNING: frozenset({State.SUCCEEDED, State.FAILED}),
        State.SUCCEEDED: frozenset(),
        State.FAILED: frozenset(),
    }

    # the kinds are the workflows registered with @workflow (apps/jobs/registry.py)
    kind = models.CharField(max_length=32, choices=registry.choices)
    target_type = models.ForeignKey(ContentType, on_delete=models.PROTECT, null=True, blank=True)
    target_id = models.PositiveBigIntegerField(null=True, blank=True)
    target = GenericForeignKey("target_type", "target_id")
    target_repr = models.CharField(max_length=200, blank=True)
    tenant = models.ForeignKey(
        "tenancy.Tenant", on_delete=models.SET_NULL, null=True, blank=True, related_name="jobs"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True
    )
    state = models.CharField(max_length=16, choices=State.choices, default=State.QUEUED)
    attempts = models.PositiveIntegerField(default=0)
    celery_task_id = models.CharField(max_length=64, blank=True)
    # Who runs the job now and when it last said so (apps/jobs/runner.py's heartbeat): a
    # running job whose heartbeat stops is taken over (job_resume_orphans).
    worker = models.CharField(
        max_length=200, blank=True, help_text="The worker process running it: host:pid."
    )
    heartbeat = models.DateTimeField(
        null=True,
        blank=True,
        help_text="Last sign of life of its worker; empty while no worker holds it.",
    )
    error = models.TextField(blank=True)
    error_type = models.CharField(
        max_length=100, blank=True, help_text="The class of the exception that failed the job."
    )
    acknowledged = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="Who took note of the failure (nobody will retry it).",
    )
    created = models.DateTimeField(auto_now_add=True)
    started = models.DateTimeField(null=True, blank=True)
    finished = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created", "-id"]
        indexes = [
            models.Index(fields=["target_type", "target_id"], name="job_target"),
            models.Index(fields=["state", "-created"], name="job_state_created"),
            models.Index(fields=["state", "heartbeat"], name="job_state_heartbeat"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(state__in=["succeeded", "failed"]) | Q(finished__isnull=True),
                name="job_finished_only_when_done",
            ),
            models.CheckConstraint(
                condition=Q(state="failed") | Q(acknowledged__isnull=True),
                name="job_acknowledged_only_when_failed",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} #{self.pk}"

    @property
    def is_done(self) -> bool:
        return self.state in (self.State.SUCCEEDED, self.State.FAILED)


class JobStep(models.Model):
    """One step of a job attempt, e.g. `ip_allocate` or `bgw_commit_check`."""

    class State(models.TextChoices):
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        SKIPPED = "skipped", "Skipped (already done)"

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="steps")
    attempt = models.PositiveIntegerField()
    position = models.PositiveIntegerField()
    name = models.CharField(max_length=64)
    state = models.CharField(max_length=16, choices=State.choices, default=State.RUNNING)
    output = models.TextField(blank=True)
    data = models.JSONField(
        default=dict,
        blank=True,
        help_text="What the step found or did, as structure (sessions seen, routes, diff, "
        "counts): what pages and the API read; `output` is only for people.",
    )
    started = models.DateTimeField()
    finished = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["job", "attempt", "position"]
        constraints = [
            models.UniqueConstraint(
                fields=["job", "attempt", "position"], name="jobstep_unique_position"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_state_display()})"

    @property
    def label(self) -> str:
        """What the step does, in plain words (what tenants read)."""
        return step_label(self.name)
