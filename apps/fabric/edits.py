"""Changing a cluster or a device after creation: what it does to the device configs, and
saving it with the sync jobs that carry it to the devices.

An edit is one of the update services (`cluster_update`, `route_reflector_update`,
`node_update`, `border_gateway_update`: the API's) applied to a record. Its effect is found
the only reliable way: render every config the edit can touch with the real selectors and
renderers, make the change, render them again, and compare. `config_edit_preview` does it
in a transaction that is rolled back; `config_edit_apply` does it for real and, in the same
transaction, queues the workflows that converge the devices:

- a route reflector's or a node's bird.conf differs: `cluster_provision` (every RR, every
  serving node, then the border gateway with commit confirmed);
- only the border gateway's set commands differ: `border_gateway_sync`;
- a node's packet filter differs, or the VMs' gateway changed (their vnets): `reconcile`.

A cluster that was never provisioned gets no job: its first provisioning applies it all.
"""

import difflib
import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.db import models, transaction

from apps.fabric.models import BorderGateway, Cluster, Node
from apps.fabric.selectors import (
    SERVING_NODE_STATES,
    active_route_reflectors,
    desired_border_gateway_junos,
    desired_node_bird,
    desired_route_reflector_bird,
    node_firewall_config,
    serving_nodes,
)
from apps.fabric.services import border_gateway_sync_start, cluster_provision_start
from apps.jobs.models import Job
from apps.jobs.services import job_start
from workers.firewall import render_node_firewall

# Fields whose value is an address every node's packet filter protects (in any cluster).
INFRASTRUCTURE_FIELDS = frozenset({"ssh_host", "mgmt_host", "peering_ip", "underlay_ip"})
# Fields that every running VM's vnet carries (not a rendered config: reconcile repairs them).
VM_GATEWAY_FIELDS = frozenset({"gateway_ipv4", "gateway_ipv6", "gateway_mac"})
# A border gateway's names on the router: a sync replaces the objects of the new names only.
ROUTER_OBJECT_FIELDS = frozenset({"bgp_group", "policy_name"})

BIRD, JUNOS, NFT = "bird", "junos", "nft"
CONFIG_NAMES = {BIRD: "bird.conf", JUNOS: "Junos set commands", NFT: "packet filter"}


class ConfigsChanged(Exception):
    """The configs the edit changes are no longer those the user confirmed."""


@dataclass(frozen=True)
class RenderedConfig:
    """One config of one device, rendered from the database as it is now."""

    device_type: str  # "route_reflector", "node", "border_gateway"
    device_id: int
    device: str  # e.g. "route reflector rr1"
    kind: str  # BIRD, JUNOS, NFT
    cluster_id: int
    cluster: str
    text: str

    @property
    def key(self) -> tuple[str, int, str]:
        return (self.device_type, self.device_id, self.kind)


@dataclass(frozen=True)
class ConfigDiff:
    """How one device config changes: a unified diff of the rendered text."""

    device_type: str
    device_id: int
    device: str
    kind: str
    cluster_id: int
    cluster: str
    diff: str

    @property
    def config_name(self) -> str:
        return CONFIG_NAMES[self.kind]


@dataclass(frozen=True)
class ConfigEdit:
    """What an edit changes: the field values, the configs' diffs, what else it does, and
    the jobs that carry it to the devices (by kind; `jobs` once they are queued)."""

    changes: dict
    diffs: tuple[ConfigDiff, ...]
    notes: tuple[str, ...]
    syncs: tuple[str, ...]
    jobs: tuple[Job, ...] = field(default=())

    @property
    def has_device_effect(self) -> bool:
        return bool(self.diffs or self.syncs)

    @property
    def digest(self) -> str:
        """A fingerprint of what the user is shown: the confirmation must match it."""
        text = "\n".join(
            [*(f"{d.device_type}:{d.device_id}:{d.kind}\n{d.diff}" for d in self.diffs),
             "syncs:" + ",".join(self.syncs)]
        )  # fmt: skip
        return hashlib.sha256(text.encode()).hexdigest()


def cluster_of(instance: models.Model) -> Cluster:
    return instance if isinstance(instance, Cluster) else instance.cluster


def device_configs(cluster: Cluster, *, every_cluster_firewall: bool = False) -> dict:
    """Every config the cluster's devices are given: each active route reflector's
    bird.conf, each serving node's bird.conf and packet filter, the border gateway's set
    commands; with `every_cluster_firewall`, the packet filters of every serving node of
    the other clusters too (they protect the addresses of every device)."""
    configs: list[RenderedConfig] = []

    def add(device_type: str, device, label: str, kind: str, text: str) -> None:
        owner = device.cluster
        configs.append(RenderedConfig(device_type, device.pk, f"{label} {device.name}", kind,
                                      owner.pk, owner.name, text))  # fmt: skip

    for rr in active_route_reflectors(cluster).select_related("cluster"):
        add("route_reflector", rr, "route reflector", BIRD,
            desired_route_reflector_bird(rr))  # fmt: skip
    nodes = list(serving_nodes(cluster).select_related("cluster"))
    for node in nodes:
        add("node", node, "node", BIRD, desired_node_bird(node))
    bgw = BorderGateway.objects.filter(cluster=cluster).select_related("cluster").first()
    if bgw:
        add("border_gateway", bgw, "border gateway", JUNOS,
            "\n".join(desired_border_gateway_junos(bgw)))  # fmt: skip
    if every_cluster_firewall:
        nodes = Node.objects.filter(state__in=SERVING_NODE_STATES).select_related("cluster")
        nodes = nodes.order_by("cluster__name", "pk")
    for node in nodes:
        add("node", node, "node", NFT, render_node_firewall(node_firewall_config(node)))
    return {config.key: config for config in configs}


def config_diffs(before: dict, after: dict) -> tuple[ConfigDiff, ...]:
    """The configs that differ, in the order they were rendered (a device that appears or
    disappears, e.g. a node leaving the RRs' configs, is diffed against nothing)."""
    diffs = []
    for key in [*after, *(k for k in before if k not in after)]:
        old, new = before.get(key), after.get(key)
        old_text, new_text = (old.text if old else ""), (new.text if new else "")
        if old_text == new_text:
            continue
        shown = new or old
        lines = difflib.unified_diff(
            old_text.splitlines(), new_text.splitlines(),
            fromfile=f"{old.device if old else shown.device} (now)",
            tofile=f"{shown.device} (after the change)", lineterm="",
        )  # fmt: skip
        diffs.append(ConfigDiff(shown.device_type, shown.device_id, shown.device, shown.kind,
                                shown.cluster_id, shown.cluster, "\n".join(lines)))  # fmt: skip
    return tuple(diffs)


def changed_fields(instance: models.Model, values: dict) -> dict:
    """The entries of `values` that differ from the record as stored."""
    stored = type(instance).objects.get(pk=instance.pk)
    return {name: value for name, value in values.items() if getattr(stored, name) != value}


Update = Callable[..., models.Model]


def config_edit_preview(*, instance: models.Model, update: Update, changes: dict) -> ConfigEdit:
    """What `update(instance, **changes)` would do to the device configs; nothing is kept.

    Raises:
        ValidationError: the change is refused by the update service (field errors).
    """
    fresh = type(instance).objects.get(pk=instance.pk)
    with transaction.atomic():
        try:
            return _edit(fresh, update, changes)
        finally:
            transaction.set_rollback(True)


@transaction.atomic
def config_edit_apply(
    *, instance: models.Model, update: Update, changes: dict, digest: str | None, created_by=None
) -> ConfigEdit:
    """Save `changes` through `update` and queue the jobs that carry them to the devices,
    in one transaction. `digest`: the `ConfigEdit.digest` of the preview the user
    confirmed (None: the caller saw no device effect); if the configs the change touches
    differ from it now (another change came in between), nothing is saved.

    Raises:
        ValidationError: refused by the update service or by a sync's start service
            (e.g. provisioning while a route reflector is being removed).
        ConfigsChanged: the effect is no longer the one confirmed.
    """
    Cluster.objects.select_for_update().filter(pk=cluster_of(instance).pk).first()
    fresh = type(instance).objects.get(pk=instance.pk)
    edit = _edit(fresh, update, changes)
    expected = digest if digest is not None else ConfigEdit({}, (), (), ()).digest
    if edit.digest != expected:
        raise ConfigsChanged("the configs this change touches changed since they were shown")
    jobs = _start_syncs(cluster_of(fresh), edit.syncs, created_by=created_by)
    for name in changes:
        setattr(instance, name, getattr(fresh, name))
    return ConfigEdit(edit.changes, edit.diffs, edit.notes, edit.syncs, jobs)


def _edit(instance, update: Update, changes: dict) -> ConfigEdit:
    cluster = Cluster.objects.get(pk=cluster_of(instance).pk)
    every_firewall = bool(INFRASTRUCTURE_FIELDS & set(changes))
    before = device_configs(cluster, every_cluster_firewall=every_firewall)
    update(instance, **changes)
    cluster.refresh_from_db()
    after = device_configs(cluster, every_cluster_firewall=every_firewall)
    diffs = config_diffs(before, after)
    notes = _notes(instance, cluster, changes)
    syncs = _syncs(cluster, diffs, vm_gateway=bool(VM_GATEWAY_FIELDS & set(changes)))
    return ConfigEdit(dict(changes), diffs, notes, syncs)


def _syncs(cluster: Cluster, diffs, *, vm_gateway: bool) -> tuple[str, ...]:
    provisioned = cluster.state != Cluster.State.NEW
    own = {diff.kind for diff in diffs if diff.cluster_id == cluster.pk}
    other_filters = any(diff.cluster_id != cluster.pk for diff in diffs)
    syncs = []
    if provisioned and BIRD in own:
        syncs.append("cluster_provision")  # RRs, serving nodes, then the border gateway
    elif provisioned and JUNOS in own:
        syncs.append("border_gateway_sync")
    vm_networks = vm_gateway and _running_vms(cluster)
    if other_filters or (provisioned and (NFT in own or vm_networks)):
        syncs.append("reconcile")
    return tuple(syncs)


def _running_vms(cluster: Cluster) -> int:
    return cluster.virtual_machines.filter(node__isnull=False).exclude(state="deleted").count()


def _notes(instance, cluster: Cluster, changes: dict) -> tuple[str, ...]:
    notes = []
    if cluster.state == Cluster.State.NEW:
        notes.append(f"Cluster {cluster.name} has not been provisioned: nothing is sent to "
                     "the devices now; its first provisioning applies this.")  # fmt: skip
    if VM_GATEWAY_FIELDS & set(changes) and (count := _running_vms(cluster)):
        notes.append(
            f"{count} VM(s) of {cluster.name} use the gateway: the reconcile queued now gives "
            "their vnets the new gateway; a guest configured with the old gateway address "
            "keeps it until it is reconfigured."
        )
    if isinstance(instance, BorderGateway) and ROUTER_OBJECT_FIELDS & set(changes):
        notes.append(
            "The router keeps the group and policies of the old names: a sync replaces the "
            "objects of the new names only. Delete the old ones on the router (a neighbor in "
            "two groups fails the commit check)."
        )
    return tuple(notes)


def _start_syncs(cluster: Cluster, syncs, *, created_by) -> tuple[Job, ...]:
    jobs = []
    for kind in syncs:
        if kind == "cluster_provision":
            jobs.append(cluster_provision_start(cluster=cluster, created_by=created_by))
        elif kind == "border_gateway_sync":
            bgw = BorderGateway.objects.get(cluster=cluster)
            jobs.append(border_gateway_sync_start(border_gateway=bgw, created_by=created_by))
        elif kind == "reconcile":
            jobs.append(job_start(kind="reconcile", created_by=created_by))
        else:  # pragma: no cover - _syncs names only the kinds above
            raise ValidationError(f"unknown sync {kind}")
    return tuple(jobs)
