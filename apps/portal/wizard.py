"""The cluster wizard's state and validation, in the order operators work:

BGP details and the border gateway → the first route reflector → networks and IP pools →
review (the Junos set lines and the RR bird.conf that will be applied) → create.

The submitted data of each step is kept in the session (credentials encrypted with the
field encryption key). Each step is validated by its forms (the models' `full_clean()`)
and then together with the steps before it by creating the records in a transaction that
is rolled back, so cross-record rules (an RR on the border gateway's address, a pool
holding the gateway, a prefix another cluster uses) are reported on the step that
introduced them. The review's configs are rendered inside that transaction by the
selectors provisioning renders with. "Create" runs the same code for real and queues
provisioning.
"""

from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.db import transaction
from django.forms import Form

from apps.core.fields import decrypt, encrypt
from apps.fabric.models import Cluster
from apps.fabric.selectors import desired_border_gateway_junos, desired_route_reflector_bird
from apps.fabric.services import (
    border_gateway_create,
    cluster_create,
    cluster_provision_start,
    route_reflector_create,
)
from apps.ipam.services import network_create, pool_create
from apps.jobs.models import Job
from apps.portal.forms import (
    SECRET_FIELDS,
    BorderGatewayForm,
    ClusterForm,
    NetworksForm,
    RouteReflectorForm,
    add_errors,
)

SESSION_KEY = "portal_cluster_wizard"
STEPS = [
    ("bgp", "BGP and border gateway"),
    ("route-reflector", "First route reflector"),
    ("networks", "Networks and IP pools"),
    ("review", "Review and create"),
]
STEP_NAMES = [name for name, _ in STEPS]
FORM_STEPS = STEP_NAMES[:-1]
# The forms of each step: key → prefix.
STEP_FORMS = {"bgp": ("cluster", "bgw"), "route-reflector": ("rr",), "networks": ("net",)}


def _is_secret(key: str) -> bool:
    return key.split("-", 1)[-1] in SECRET_FIELDS


class WizardStore:
    """The steps' submitted data in the session; secrets encrypted at rest."""

    def __init__(self, session):
        self.session = session
        self.state = session.get(SESSION_KEY) or {}

    def data(self, step: str) -> dict[str, str] | None:
        stored = self.state.get(step)
        if stored is None:
            return None
        return {k: decrypt(v) if _is_secret(k) and v else v for k, v in stored.items()}

    def save(self, step: str, data: dict[str, str]) -> None:
        self.state[step] = {k: encrypt(v) if _is_secret(k) and v else v for k, v in data.items()}
        self.session[SESSION_KEY] = self.state
        self.session.modified = True

    def clear(self) -> None:
        self.session.pop(SESSION_KEY, None)

    def submitted(self) -> list[str]:
        return [step for step in FORM_STEPS if step in self.state]


def submitted_data(step: str, post, store: WizardStore) -> dict[str, str]:
    """The step's POSTed fields; a secret left empty keeps the one entered before."""
    previous = store.data(step) or {}
    data = {}
    for prefix in STEP_FORMS[step]:
        for key, value in post.items():
            if key.startswith(f"{prefix}-"):
                data[key] = value
    for key, value in previous.items():
        if _is_secret(key) and not data.get(key):
            data[key] = value
    return data


@dataclass
class Bound:
    """The bound forms of the steps so far and whether they hold together."""

    forms: dict[str, Form] = field(default_factory=dict)
    step_of_form: dict[str, str] = field(default_factory=dict)

    def step_forms(self, step: str) -> dict[str, Form]:
        return {key: form for key, form in self.forms.items() if self.step_of_form[key] == step}

    def first_invalid_step(self) -> str | None:
        for step in FORM_STEPS:
            if any(form.errors for form in self.step_forms(step).values()):
                return step
        return None


def bind_step(step: str, data: dict | None, bound: Bound) -> None:
    """Bind the forms of `step` to `data` (None: unbound, empty forms)."""
    if step == "bgp":
        cluster = ClusterForm(data, prefix="cluster")
        asn = cluster.cleaned_data.get("bgp_asn") if data and cluster.is_valid() else None
        forms_ = {"cluster": cluster, "bgw": BorderGatewayForm(data, prefix="bgw", default_asn=asn)}
    elif step == "route-reflector":
        forms_ = {"rr": RouteReflectorForm(data, prefix="rr")}
    else:
        forms_ = {"net": NetworksForm(data, prefix="net")}
    for key, form in forms_.items():
        bound.forms[key] = form
        bound.step_of_form[key] = step


class _Rollback(Exception):
    pass


def create_records(bound: Bound, *, upto: str) -> dict:
    """Create the records of the steps up to `upto` from the valid forms.

    A ValidationError is shown on the form (and field) it belongs to, and the creation
    stops there, except between the networks step's families: each one's network and pool
    are tried, so the step shows every error at once. Returns the records by form key.
    """
    steps = FORM_STEPS[: FORM_STEPS.index(upto) + 1]
    f = bound.forms
    records: dict = {}

    def attempt(form_key: str, create, **field_map):
        try:
            return create()
        except ValidationError as exc:
            add_errors(f[form_key], exc, field_map=field_map)
            raise _Rollback from exc

    cluster = attempt("cluster", lambda: cluster_create(**f["cluster"].cleaned_data))
    records["cluster"] = cluster
    records["bgw"] = attempt(
        "bgw", lambda: border_gateway_create(cluster=cluster, **f["bgw"].cleaned_data)
    )
    if "route-reflector" in steps:
        records["rr"] = attempt(
            "rr", lambda: route_reflector_create(cluster=cluster, **f["rr"].cleaned_data)
        )
    if "networks" in steps:
        failed = False
        for family, network, pool in f["net"].records(cluster):
            net_map = {"prefix": f"{family}_prefix", "cluster": f"{family}_prefix"}
            try:
                records[f"{family}_network"] = attempt(
                    "net",
                    lambda n=network: network_create(cluster=cluster, prefix=n.prefix),
                    **net_map,
                )
            except _Rollback:
                failed = True
                continue  # its pool needs it; the other family is still checked
            pool_map = {
                "name": f"{family}_pool_name",
                "first_address": f"{family}_first",
                "last_address": f"{family}_last",
                "excluded": f"{family}_excluded",
            }
            saved_network = records[f"{family}_network"]
            try:
                records[f"{family}_pool"] = attempt(
                    "net",
                    lambda p=pool, n=saved_network: pool_create(
                        network=n,
                        name=p.name,
                        first_address=p.first_address,
                        last_address=p.last_address,
                        excluded=p.excluded,
                    ),
                    **pool_map,
                )
            except _Rollback:
                failed = True
        if failed:
            raise _Rollback
    return records


def rehearse(bound: Bound, *, upto: str, inside=None):
    """Create the records of the steps up to `upto` in a transaction that is rolled back
    (errors go on the forms). `inside(records)` runs before the rollback; its answer is
    returned (None when the records could not all be created)."""
    answer = None
    try:
        with transaction.atomic():
            records = create_records(bound, upto=upto)
            if inside is not None:
                answer = inside(records)
            raise _Rollback
    except _Rollback:
        pass
    return answer


def validate(bound: Bound, *, upto: str) -> bool:
    """Forms of the steps up to `upto` valid, and their records creatable together."""
    steps = FORM_STEPS[: FORM_STEPS.index(upto) + 1]
    if not all(
        form.is_valid() for key, form in bound.forms.items() if bound.step_of_form[key] in steps
    ):
        return False
    rehearse(bound, upto=upto)
    return not any(
        form.errors for key, form in bound.forms.items() if bound.step_of_form[key] in steps
    )


def bind_all(store: WizardStore) -> tuple[Bound, str | None]:
    """Bind every form step to its stored data; the first step not submitted, if any."""
    bound = Bound()
    missing = None
    for step in FORM_STEPS:
        data = store.data(step)
        if data is None and missing is None:
            missing = step
        bind_step(step, data, bound)
    return bound, missing


def cleaned(bound: Bound) -> dict:
    """The cleaned data of every step, as the review shows it."""
    f = bound.forms
    return {
        "cluster": f["cluster"].cleaned_data,
        "border_gateway": f["bgw"].cleaned_data,
        "route_reflector": f["rr"].cleaned_data,
        "networks": {"prefixes": f["net"].prefixes()},
    }


def previews(bound: Bound) -> dict[str, str] | None:
    """The Junos set lines and the RR bird.conf that provisioning will apply: the records
    created, rendered by the selectors provisioning uses, and rolled back."""

    def render(records) -> dict[str, str]:
        return {
            "junos": "\n".join(desired_border_gateway_junos(records["bgw"])),
            "bird": desired_route_reflector_bird(records["rr"]),
        }

    return rehearse(bound, upto=FORM_STEPS[-1], inside=render)


@transaction.atomic
def create_cluster(bound: Bound, *, created_by=None) -> tuple[Cluster, Job]:
    """Save the cluster, its border gateway, first RR, networks and pools in one
    transaction and queue its provisioning. Raises ValidationError when they no longer
    validate (the forms hold the details)."""
    try:
        records = create_records(bound, upto=FORM_STEPS[-1])
    except _Rollback:
        raise ValidationError("The cluster no longer validates; see the steps.") from None
    cluster = records["cluster"]
    job = cluster_provision_start(cluster=cluster, created_by=created_by)
    return cluster, job
