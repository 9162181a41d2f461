"""What a step does, in words for tenants: the step names are the operators' vocabulary."""

TENANT_STEP_LABELS = {
    "ip_allocate": "Reserving your address",
    "place": "Choosing a host",
    "hypervisor_create": "Booting",
    "network_attach": "Connecting the network",
    "node_apply_bird": "Announcing the route",
    "verify_export": "Checking the route reaches the internet",
    "network_detach": "Disconnecting the network",
    "hypervisor_delete": "Removing the machine",
    "ip_release": "Releasing your address",
    "hypervisor_start": "Starting",
    "hypervisor_stop": "Stopping",
    "attempt_lost": "Resuming after a worker was lost",
}


def step_label(name: str) -> str:
    """`name` in plain words ("Booting" for hypervisor_create)."""
    return TENANT_STEP_LABELS.get(name) or name.replace("_", " ").capitalize()


def failed_while(name: str) -> str:
    """ "Failed while booting." for a failed hypervisor_create."""
    label = step_label(name)
    return f"Failed while {label[:1].lower()}{label[1:]}."
