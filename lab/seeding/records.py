"""The database records of a cluster built on the lab (lab/netns.py).

One place for `manage.py seed_lab`, the end-to-end tests and the benchmarks: a cluster with
the lab's public network and a pool, the Junos simulator as border gateway, and the lab's
route reflectors; and the fields of a node for one of the lab's node hosts. Every device's
host key is pinned (the lab made them), so the lab runs under the strict host-key policy.
The lab's nodes share this machine's /etc: their routing sysctls are set, not persisted.
"""

from apps.fabric.models import BorderGateway, Cluster, Node, RouteReflector
from apps.ipam.models import IPPool, Network
from lab.netns import Lab


def lab_cluster(
    lab: Lab,
    *,
    name: str = "lab",
    group: str = "VM",
    first: str = "203.0.113.10",
    last: str = "203.0.113.250",
) -> Cluster:
    """Create the cluster's records (nothing is configured: provisioning does that)."""
    cluster = Cluster.objects.create(
        name=name, description="Network-namespace lab", bgp_asn=lab.asn,
        bgp_community=f"{lab.asn}:100",
    )  # fmt: skip
    network = Network.objects.create(cluster=cluster, prefix=lab.public)
    IPPool.objects.create(network=network, name="main", first_address=first, last_address=last)
    BorderGateway.objects.create(
        cluster=cluster, name="mx-lab", mgmt_host="127.0.0.1", mgmt_port=lab.junos_port,
        username=lab.junos_username, password=lab.junos_password,
        ssh_host_key=lab.junos_host_key,
        peering_ip=lab.core.address, peer_asn=lab.asn, bgp_group=group, policy_name=group,
        # the lab's simulator serves this cluster alone (tests rebuild these records
        # against a router an earlier test configured): its group is this cluster's
        router_objects_claimed=True,
    )  # fmt: skip
    for host in lab.by_role("rr"):
        RouteReflector.objects.create(
            cluster=cluster, name=host.name, peering_ip=host.address,
            ssh_private_key=lab.ssh_private_key, ssh_host_key=lab.host_key(host.name),
            bird_config_path=host.bird_conf, bird_socket_path=host.bird_socket,
        )  # fmt: skip
    return cluster


def lab_vm_namespace_prefix(lab: Lab) -> str:
    """netns "VMs" of this lab are named <lab prefix>-vm-<VM id>: lab_down removes them."""
    return f"{lab.prefix}-vm-"


def lab_node_fields(lab: Lab, name: str, **overrides) -> dict:
    """Fields of a Node (or `node_create`) for the lab host `name` (netns hypervisor)."""
    host = lab.hosts[name]
    fields = {
        "name": name, "underlay_ip": host.address, "hypervisor": "netns",
        "ssh_private_key": lab.ssh_private_key, "ssh_host_key": lab.host_key(name),
        "bird_config_path": host.bird_conf,
        "bird_socket_path": host.bird_socket, "vcpus": 8, "memory_mb": 16384, "disk_gb": 200,
        "hypervisor_options": {"namespace_prefix": lab_vm_namespace_prefix(lab)},
        "persist_host_config": False,
    }  # fmt: skip
    fields.update(overrides)
    return fields


def lab_refresh_records(lab: Lab, cluster: Cluster) -> None:
    """Point an existing lab cluster's device records at a lab brought up again (its
    simulator's port and password, the hosts' keys), so that provisioning and reconcile
    can prepare the new lab's hosts."""
    for bgw in BorderGateway.objects.filter(cluster=cluster):
        bgw.mgmt_host, bgw.mgmt_port = "127.0.0.1", lab.junos_port
        bgw.username, bgw.password = lab.junos_username, lab.junos_password
        bgw.ssh_host_key = lab.junos_host_key
        bgw.save()
    for rr in cluster.route_reflectors.filter(name__in=lab.hosts):
        host = lab.hosts[rr.name]
        rr.ssh_private_key, rr.ssh_host_key = lab.ssh_private_key, lab.host_key(rr.name)
        rr.bird_config_path, rr.bird_socket_path = host.bird_conf, host.bird_socket
        rr.save()
    for node in Node.objects.filter(cluster=cluster, name__in=lab.hosts):
        fields = lab_node_fields(lab, node.name)
        for field in ("underlay_ip", "ssh_private_key", "ssh_host_key", "bird_config_path",
                      "bird_socket_path", "persist_host_config"):  # fmt: skip
            setattr(node, field, fields[field])
        node.save()
