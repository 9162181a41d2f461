"""The guest image catalog: what each hypervisor's images must give, and how orders and
placement use them."""

from types import SimpleNamespace

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from apps.compute.models import GuestImage, VirtualMachine
from apps.compute.services import (
    ClusterNotReady,
    NoCapacity,
    node_enforces_disk_size,
    vm_order,
    vm_place,
)
from apps.compute.workflows import guest_spec, node_driver
from apps.fabric.models import Cluster, Node
from apps.fabric.services import node_drain, node_undrain
from tests.factories import (
    build_node,
    make_cluster,
    make_network,
    make_node,
    make_plan,
    make_pool,
    make_tenant,
)

pytestmark = pytest.mark.django_db

KERNEL = {"kernel": "/var/cache/img/vmlinuz", "initrd": "/var/cache/img/initrd.img"}


def image(**fields) -> GuestImage:
    defaults = {"name": "img", "hypervisor": "libvirt", **KERNEL}
    return GuestImage(**{**defaults, **fields})


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"kernel": "", "initrd": ""}, "kernel"),
        ({"disk": "/var/lib/disk.qcow2; rm -rf /"}, "disk"),
        ({"kernel": "", "disk": "/var/lib/disk.qcow2"}, "initrd"),
        ({"lxd_alias": "busybox"}, "lxd_alias"),
        ({"kernel": "relative/vmlinuz"}, "kernel"),
        ({"kernel": "/boot/vmlinuz; rm -rf /"}, "kernel"),
        ({"hypervisor": "lxd"}, "lxd_alias"),
        (
            {
                "hypervisor": "lxd",
                "kernel": "",
                "initrd": "",
                "lxd_alias": "bb",
                "lxd_metadata": "/srv/meta.tar.gz",
            },
            "lxd_rootfs",
        ),  # fmt: skip
        ({"hypervisor": "lxd", "lxd_alias": "bb"}, "kernel"),
        ({"boot_timeout_seconds": 0}, "boot_timeout_seconds"),
    ],
)
def test_image_sources_must_fit_the_hypervisor(fields, field):
    with pytest.raises(ValidationError) as caught:
        image(**fields).full_clean()
    assert field in caught.value.message_dict


def test_valid_images_and_their_kind():
    kernel = image()
    kernel.full_clean()
    disk = image(name="disk", kernel="", initrd="", disk="/var/lib/disk.qcow2")
    disk.full_clean()
    lxd = image(name="ct", hypervisor="lxd", kernel="", initrd="", lxd_alias="busybox",
                lxd_metadata="/srv/meta.tar.gz", lxd_rootfs="/srv/rootfs.tar.gz")  # fmt: skip
    lxd.full_clean()
    assert (kernel.kind, disk.kind, lxd.kind) == ("kernel", "disk", "lxd")
    # a kernel with a disk: the kernel boots, the guest gets (an overlay of) the disk
    both = image(name="both", disk="/var/lib/disk.qcow2")
    both.full_clean()
    assert both.kind == "kernel"


def test_database_refuses_an_image_without_a_source():
    with pytest.raises(IntegrityError), transaction.atomic():
        image(kernel="", initrd="").save()
    with pytest.raises(IntegrityError), transaction.atomic():
        image(hypervisor="lxd", kernel="", initrd="").save()


@pytest.fixture
def cluster() -> Cluster:
    cluster = make_cluster(virtualization=Cluster.Virtualization.LXD, state=Cluster.State.READY)
    make_pool(network=make_network(cluster=cluster, prefix="203.0.113.0/24"),
              first="203.0.113.10", last="203.0.113.20")  # fmt: skip
    return cluster


def test_order_refuses_an_image_of_the_wrong_hypervisor_or_retired(cluster):
    lxd = image(name="ct", hypervisor="lxd", kernel="", initrd="", lxd_alias="bb")
    lxd.save()
    with pytest.raises(ValidationError) as caught:
        vm_order(tenant=make_tenant(), plan=make_plan(), cluster=cluster, name="a", image=lxd)
    assert "needs a libvirt image" in caught.value.message_dict["image"][0]
    retired = image(name="old", is_active=False)
    retired.save()
    with pytest.raises(ValidationError) as caught:
        vm_order(tenant=make_tenant(), plan=make_plan(), cluster=cluster, name="b", image=retired)
    assert "no longer offered" in caught.value.message_dict["image"][0]


def test_placement_follows_the_image_and_the_spec_carries_it(cluster):
    nodes = {
        kind: make_node(cluster=cluster, hypervisor=kind, state=Node.State.READY,
                        facts={"lxd_storage_driver": "btrfs"} if kind == "lxd" else {})
        for kind in ("netns", "libvirt", "lxd")
    }  # fmt: skip
    qemu = image(ready_marker="fabric-guest: ready", boot_timeout_seconds=30)
    qemu.save()
    lxd = image(name="ct", hypervisor="lxd", kernel="", initrd="", lxd_alias="bb")
    lxd.save()
    tenant, vm_plan = make_tenant(), make_plan()
    ct_plan = make_plan(kind="container")
    placed = {
        name: vm_place(vm_order(tenant=tenant, plan=plan, cluster=cluster, name=name, image=img))
        for name, plan, img in (("v", vm_plan, qemu), ("c", ct_plan, lxd), ("n", vm_plan, None))
    }
    assert placed["v"].node == nodes["libvirt"]
    assert placed["c"].node == nodes["lxd"]
    assert placed["n"].node == nodes["netns"], "no image: lab nodes only"
    spec = guest_spec(placed["v"])
    assert (spec.image.kernel, spec.image.initrd) == (KERNEL["kernel"], KERNEL["initrd"])
    assert (spec.image.ready_marker, spec.image.boot_timeout) == ("fabric-guest: ready", 30.0)
    assert guest_spec(placed["n"]).image is None

    Node.objects.filter(pk=nodes["libvirt"].pk).update(state=Node.State.FAILED)
    with pytest.raises(NoCapacity, match="libvirt"):
        vm_place(vm_order(tenant=tenant, plan=vm_plan, cluster=cluster, name="w", image=qemu))


def test_node_hypervisor_options_are_validated():
    node = make_node(hypervisor="lxd", hypervisor_options={"state_dir": "/srv/fabric/hv"})
    bad_prefixes = ({"namespace_prefix": p} for p in ("Upper-", "-lead", "x" * 17, "a b", ""))
    for bad in ({"state_dir": "relative"}, {"lxd_dir": "/x"}, ["state_dir"], *bad_prefixes):
        node.hypervisor_options = bad
        with pytest.raises(ValidationError) as caught:
            node.full_clean()
        assert "hypervisor_options" in caught.value.message_dict


def test_netns_vms_are_named_with_the_nodes_namespace_prefix():
    vm = SimpleNamespace(guest_id=7)
    lab_node = make_node(hypervisor="netns", hypervisor_options={"namespace_prefix": "ft3-vm-"})
    lab_node.full_clean()
    assert node_driver(lab_node).namespace(vm) == "ft3-vm-7"
    assert node_driver(make_node(hypervisor="netns")).namespace(vm) == "fabvm-7"


def test_a_draining_node_gets_no_new_vm_but_keeps_its_own(cluster):
    busy, spare = (make_node(cluster=cluster, hypervisor="netns", state="ready") for _ in "ab")
    tenant, plan = make_tenant(), make_plan()
    first = vm_place(vm_order(tenant=tenant, plan=plan, cluster=cluster, name="first"))
    drained = first.node
    node_drain(drained)

    second = vm_place(vm_order(tenant=tenant, plan=plan, cluster=cluster, name="second"))

    assert second.node != drained and second.node in (busy, spare)
    assert VirtualMachine.objects.get(pk=first.pk).node == drained
    node_drain(second.node)
    with pytest.raises(ClusterNotReady, match="no ready node"):
        vm_order(tenant=tenant, plan=plan, cluster=cluster, name="third")
    node_undrain(drained)
    assert vm_place(vm_order(tenant=tenant, plan=plan, cluster=cluster, name="fourth")).node == (
        drained
    )


def test_only_a_ready_node_drains_and_only_a_draining_one_returns(cluster):
    new = make_node(cluster=cluster)
    with pytest.raises(ValidationError, match="only a ready node can drain"):
        node_drain(new)
    with pytest.raises(ValidationError, match="only a draining node can return to service"):
        node_undrain(new)
    assert Node.objects.get(pk=new.pk).state == "new"


def test_hypervisor_options_belong_to_their_hypervisor():
    for hypervisor, option in (("netns", {"state_dir": "/srv/hv"}),
                               ("lxd", {"namespace_prefix": "lab-vm-"})):  # fmt: skip
        node = build_node(hypervisor=hypervisor, hypervisor_options=option)
        with pytest.raises(ValidationError) as caught:
            node.full_clean()
        assert f"not for {hypervisor} nodes" in caught.value.message_dict["hypervisor_options"][0]


def test_hypervisor_options_stay_while_the_node_has_vms(cluster):
    node = make_node(cluster=cluster, hypervisor="netns", state="ready",
                     hypervisor_options={"namespace_prefix": "lab-vm-"})  # fmt: skip
    vm = vm_place(vm_order(tenant=make_tenant(), plan=make_plan(), cluster=cluster, name="v"))
    assert vm.node == node
    node.hypervisor_options = {"namespace_prefix": "other-vm-"}
    with pytest.raises(ValidationError) as caught:
        node.full_clean()
    assert "while it has VMs" in caught.value.message_dict["hypervisor_options"][0]
    node.description = "other changes are fine"
    node.hypervisor_options = {"namespace_prefix": "lab-vm-"}
    node.full_clean()


def lxd_image() -> GuestImage:
    lxd = image(name="ct", hypervisor="lxd", kernel="", initrd="", lxd_alias="bb")
    lxd.save()
    return lxd


def test_a_container_is_refused_when_no_ready_lxd_node_enforces_its_disk_size(cluster):
    """An LXD `dir` pool ignores a root disk's `size=`: refused at order time, naming the plan
    and the nodes' pools, and nothing is saved."""
    tenant, plan, ct = make_tenant(), make_plan(kind="container"), lxd_image()
    make_node(cluster=cluster, name="lxd-dir", hypervisor="lxd", state=Node.State.READY,
              facts={"lxd_storage_driver": "dir"})  # fmt: skip
    make_node(cluster=cluster, name="lxd-old", hypervisor="lxd", state=Node.State.READY)
    make_node(
        cluster=cluster, name="lxd-new", hypervisor="lxd", facts={"lxd_storage_driver": "btrfs"}
    )  # fmt: skip  (not ready yet)

    with pytest.raises(ValidationError) as caught:
        vm_order(tenant=tenant, plan=plan, cluster=cluster, name="c", image=ct)
    message = caught.value.message_dict["plan"][0]
    assert "lxd-dir: dir; lxd-old: unknown" in message and "btrfs" in message
    assert not VirtualMachine.objects.filter(name="c").exists()

    Node.objects.filter(name="lxd-new").update(state=Node.State.READY)
    vm = vm_place(vm_order(tenant=tenant, plan=plan, cluster=cluster, name="c", image=ct))
    assert vm.node.name == "lxd-new", "placement takes only a node that enforces the size"


def test_placement_skips_lxd_nodes_whose_pool_does_not_enforce_sizes(cluster):
    ct = lxd_image()
    make_node(cluster=cluster, hypervisor="netns", state=Node.State.READY)  # takes orders
    vm = vm_order(
        tenant=make_tenant(), plan=make_plan(kind="container"), cluster=cluster, name="c", image=ct
    )  # fmt: skip  (no ready LXD node yet: ordering is fine)
    make_node(cluster=cluster, name="lxd-dir", hypervisor="lxd", state=Node.State.READY,
              facts={"lxd_storage_driver": "dir"})  # fmt: skip
    with pytest.raises(NoCapacity, match="lxd-dir: storage pool does not enforce disk sizes"):
        vm_place(vm)


def test_libvirt_and_lab_nodes_always_hold_guests_to_their_disk_size(cluster):
    for kind in ("libvirt", "netns"):
        assert node_enforces_disk_size(make_node(cluster=cluster, hypervisor=kind))
