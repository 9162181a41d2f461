"""Typed errors raised by the network adapters; never returned as strings."""


class DeviceError(Exception):
    """Base class: something went wrong talking to or configuring a device."""


class BirdConfigInvalid(DeviceError):
    """`bird -p` rejected a rendered config; it was not applied."""


class BirdFileNotManaged(DeviceError):
    """The BIRD config path holds a file the product did not write and will not replace."""


class BirdCommandFailed(DeviceError):
    """birdc answered with an error (e.g. `configure` failed) or BIRD is not running."""


class TransientError(Exception):
    """A failure worth retrying later (the device or a lock may be back by then)."""


class NodeUnreachable(DeviceError, TransientError):
    """SSH to a node or RR failed (connection, authentication, timeout): worth a retry."""


class RemoteCommandFailed(DeviceError):
    """A command over SSH exited non-zero."""

    def __init__(self, command: str, exit_status: int | None, output: str):
        self.command, self.exit_status, self.output = command, exit_status, output
        super().__init__(f"`{command}` exited {exit_status}: {output.strip()[-500:]}")


class JunosError(DeviceError):
    """The border gateway refused a command or a commit."""


class JunosCommitFailed(JunosError):
    """`commit check` or a commit failed; nothing was committed."""


class JunosVerifyFailed(JunosError):
    """After `commit confirmed`, the BGP group did not look right; not confirmed."""


class HypervisorError(DeviceError):
    """A hypervisor driver could not create, start, stop or delete a guest."""


class GuestBootTimeout(HypervisorError):
    """The guest was started but did not report ready within its boot timeout."""


class HostKeyMismatch(DeviceError):
    """The device offered another SSH host key than the one stored: nothing was sent to it.
    Not transient: an admin checks the device and replaces the stored key."""


class HostKeyUnknown(DeviceError):
    """No host key is stored for the device and the policy (strict) requires one."""
