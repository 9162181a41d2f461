"""What a failed job's error most likely means, in words, and what to do about it.

One entry per exception class the workflows raise (workers/errors.py, the adapters, the
`workflows.py` modules and the services they call), keyed by class name as the runner
records it in `Job.error_type`. Each says the likely cause in one plain sentence and the
fix before starting the job again; `apps.jobs.selectors.likely_cause` adds "then Retry"
(or "then order it again" for kinds that are not restarted). Shown to platform roles only,
like the error itself.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class Cause:
    cause: str  # one plain sentence: what most likely happened
    fix: str  # what to check or change before trying again (no trailing period)


SSH_DOWN = Cause(
    "The device did not answer on SSH (no connection, login refused or timed out).",
    "Check that it is up and reachable on the management network, and its address, port "
    "and credentials on its page",
)

CAUSES: dict[str, Cause] = {
    # SSH and host keys
    "NodeUnreachable": SSH_DOWN,
    "BorderGatewayUnreachable": Cause(
        "The border gateway did not answer on its management address (no connection, login "
        "refused or timed out); nothing was changed on it.",
        "Check that the router is up and its management host, port and credentials",
    ),
    "HostKeyUnknown": Cause(
        "No SSH host key is stored for the device and the host key policy requires one, so "
        "the portal did not log in.",
        "Read the device's host key out of band and store it on the device's page",
    ),
    "HostKeyMismatch": Cause(
        "The device offered another SSH host key than the stored one, so nothing was sent to "
        "it: it was reinstalled or replaced, or someone is in the way.",
        "Check the device; if its new key is genuine, store it on the device's page",
    ),
    "RemoteCommandFailed": Cause(
        "A command on the device exited with an error (the failed step's output shows it).",
        "Fix what the command reports on the device",
    ),
    # BIRD
    "BirdConfigInvalid": Cause(
        "BIRD rejected the rendered configuration (`bird -p`), so it was not applied and the "
        "previous one still runs.",
        "Check the settings that went into it (addresses, AS numbers, BIRD paths) on the "
        "device's and the cluster's pages",
    ),
    "BirdFileNotManaged": Cause(
        "The BIRD config file on the device was not written by the portal, and the portal "
        "does not replace a file it did not write.",
        "Move that file away on the device, or set another BIRD config path for it",
    ),
    "BirdCommandFailed": Cause(
        "birdc answered with an error, or BIRD is not running on the device.",
        "Check the bird service on the device (`systemctl status bird`, its log)",
    ),
    "SessionsNotEstablished": Cause(
        "The BGP sessions did not reach Established in time.",
        "Check that the route reflectors are provisioned and ready, and that the node and "
        "the route reflectors reach each other on the underlay (port 179)",
    ),
    # border gateway (Junos)
    "JunosCommitFailed": Cause(
        "The border gateway refused the configuration at commit check; nothing was committed.",
        "Read the router's message in the error, and fix the border gateway's or the "
        "cluster's settings it names",
    ),
    "JunosVerifyFailed": Cause(
        "After `commit confirmed` the router's BGP group did not show every route reflector "
        "Established with its prefixes, so the change was rolled back.",
        "Check that the route reflectors are ready and peer with the router",
    ),
    "JunosError": Cause(
        "The border gateway refused a command (the error quotes it), or its group or policy "
        "names are already used by something else.",
        "Fix what the router reports, or give the border gateway other group and policy names",
    ),
    # hypervisors and nodes
    "GuestBootTimeout": Cause(
        "The guest was started but did not report ready within its image's boot timeout.",
        "Check that the image boots on that node (its console), or raise the image's boot timeout",
    ),
    "HypervisorError": Cause(
        "The hypervisor on the node could not create, start, stop or delete the guest.",
        "Check the hypervisor on the node (the failed step's output and the daemon's log)",
    ),
    "NodeSetupFailed": Cause(
        "Preparing the node failed (packages, sysctls, hypervisor or packet filter).",
        "Fix what the node_prepare step's output reports on the node",
    ),
    "HypervisorSetupFailed": Cause(
        "The node's hypervisor (libvirt or LXD) is missing and could not be installed, or "
        "would not start.",
        "Install or start it on the node (the node_prepare step's output says what failed)",
    ),
    "FirewallRulesetInvalid": Cause(
        "The node's nft rejected the rendered packet filter, so it was not loaded.",
        "Check the cluster's and the node's addresses that go into the filter",
    ),
    "FirewallMissing": Cause(
        "The node has no packet filter of the product loaded.",
        "Prepare the node again (node setup installs nftables and loads the filter)",
    ),
    "FirewallError": Cause(
        "The node's packet filter could not be loaded.",
        "Check nftables on the node",
    ),
    "RouteNotExported": Cause(
        "The node's BIRD did not export the VM's route to any route reflector.",
        "Check the node's BGP sessions on its page",
    ),
    "VmNetworkIncomplete": Cause(
        "A running VM's network (vnet, gateway address, route) could not be made complete "
        "again on its node.",
        "Check the node and the VM's vnet there",
    ),
    "DevicesFailed": Cause(
        "Some devices could not be checked or repaired; their failed steps say which and why.",
        "Fix each device named in the failed steps",
    ),
    "DeviceBusy": Cause(
        "Another job held the device's lock until this job's tries ran out.",
        "Wait until the other job on the device has finished",
    ),
    # capacity and addresses
    "PoolExhausted": Cause(
        "The cluster's address pools had no free address.",
        "Add a pool to the cluster or free addresses",
    ),
    "NoCapacity": Cause(
        "No ready node of the cluster had room for the plan (or runs the image's hypervisor).",
        "Add a node, return a drained one to service, or choose a smaller plan",
    ),
    "InvalidTransition": Cause(
        "The object was in a state that does not allow this step any more: something else "
        "changed it meanwhile.",
        "Look at its current state on its page",
    ),
    "DeviceError": Cause(
        "The device refused or failed an operation (the error says which).",
        "Fix what the error names on the device",
    ),
}

UNKNOWN = Cause(
    "The job stopped on an error the portal has no explanation for; the error below is the "
    "exception as raised.",
    "Fix what it names",
)


def cause_of(error_type: str) -> Cause:
    """The likely cause of an error of class `error_type` (UNKNOWN when not mapped)."""
    return CAUSES.get(error_type, UNKNOWN)
