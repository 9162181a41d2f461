"""The one list of job kinds: each `workflows.py` declares its kinds with `@workflow`.

    @workflow("vm_create", label="Create VM", target="compute.VirtualMachine")
    def vm_create(run: JobRun) -> None: ...

The decorator records the kind, its human label, the model its jobs target, its retry
policy and how a failed job of the kind is started again from the portal or the API
(`restart`: the kind's start service, so every refusal rule applies; or `no_restart`: why
not); `Job.kind`'s choices, the portal's labels, the API's choices and the one Celery task
(`jobs.run`, apps/jobs/tasks.py) all read this registry. The workflow modules are imported
when Django starts (each app's `AppConfig.ready()`), so the web process and the worker know
the same kinds.
"""

from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings


@dataclass(frozen=True)
class Workflow:
    """A job kind: what runs it and how it is retried."""

    kind: str
    label: str
    function: Callable  # (JobRun) -> None
    target: str | None  # the model label of the job's target ("compute.VirtualMachine")
    max_retries: int | None  # None: settings.FABRIC_TASK_MAX_RETRIES
    # (target, created_by) -> Job: starts the kind again through its start service
    restart: Callable | None = None
    no_restart: str = ""  # why a failed job of this kind is not started again (no restart)

    @property
    def retries(self) -> int:
        """How many times a transient failure is retried before the final attempt."""
        return settings.FABRIC_TASK_MAX_RETRIES if self.max_retries is None else self.max_retries


class UnknownKind(LookupError):
    """No workflow is registered for this kind."""


_workflows: dict[str, Workflow] = {}


def workflow(
    kind: str,
    *,
    label: str,
    target: str | None = None,
    max_retries: int | None = None,
    restart: Callable | None = None,
    no_restart: str = "",
) -> Callable[[Callable], Callable]:
    """Register the decorated function as the workflow of job kind `kind`.

    `restart(target, created_by) -> Job` starts the kind again after a failure (the
    portal's and the API's Retry); without it, `no_restart` says what to do instead.
    """

    def register(function: Callable) -> Callable:
        known = _workflows.get(kind)
        if known is not None and _name(known.function) != _name(function):
            raise ValueError(f"job kind {kind!r} is already registered by {_name(known.function)}")
        _workflows[kind] = Workflow(kind, label, function, target, max_retries, restart, no_restart)
        return function

    return register


def _name(function: Callable) -> str:
    return f"{function.__module__}.{function.__qualname__}"


def get(kind: str) -> Workflow:
    try:
        return _workflows[kind]
    except KeyError:
        raise UnknownKind(f"no workflow is registered for job kind {kind!r}") from None


def kinds() -> list[str]:
    return sorted(_workflows)


def choices() -> list[tuple[str, str]]:
    """(kind, label) pairs for `Job.kind`, the API's filter and the portal's."""
    return [(kind, _workflows[kind].label) for kind in kinds()]
