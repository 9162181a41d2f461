"""Public networks of a cluster, the pools VM addresses come from, and the addresses in use."""

import netaddr
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q

from apps.core.validators import (
    is_config_name,
    parse_ip,
    validate_config_description,
    validate_config_name,
    validate_public_prefix,
)


def address_key(address: netaddr.IPAddress | str) -> str:
    """A fixed-width hex key that sorts like the address (IPv4 and IPv6 alike)."""
    return f"{int(netaddr.IPAddress(address)):032x}"


class Network(models.Model):
    """A public prefix routed to the cluster: what the RRs and the border gateway accept."""

    cluster = models.ForeignKey("fabric.Cluster", on_delete=models.PROTECT, related_name="networks")
    prefix = models.CharField(
        max_length=49,
        unique=True,
        validators=[validate_public_prefix],
        help_text="e.g. 203.0.113.0/24 or 2001:db8:100::/48",
    )
    family = models.PositiveSmallIntegerField(choices=[(4, "IPv4"), (6, "IPv6")], editable=False)
    description = models.CharField(
        max_length=200, blank=True, validators=[validate_config_description]
    )
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["cluster__name", "family", "prefix"]
        constraints = [
            models.CheckConstraint(condition=Q(family__in=[4, 6]), name="network_family_valid")
        ]

    def __str__(self) -> str:
        return self.prefix

    derived_fields = ("family",)  # see instance_update

    def save(self, *args, **kwargs):
        self.family = netaddr.IPNetwork(self.prefix).version
        super().save(*args, **kwargs)

    @property
    def ip_network(self) -> netaddr.IPNetwork:
        return netaddr.IPNetwork(self.prefix)

    def clean(self) -> None:
        try:
            network = netaddr.IPNetwork(self.prefix)
        except (netaddr.AddrFormatError, ValueError, TypeError):
            return  # the field validator reports it
        if network.ip != network.network:
            return
        self.prefix = str(network.cidr)
        self.family = network.version
        for other in Network.objects.exclude(pk=self.pk).filter(family=network.version):
            if network in other.ip_network or other.ip_network in network:
                raise ValidationError(
                    {
                        "prefix": f"{network.cidr} overlaps network {other} of cluster "
                        f"{other.cluster}."
                    }
                )
        if self.pk:
            for pool in self.pools.all():
                if not (pool.first in network and pool.last in network):
                    raise ValidationError(
                        {"prefix": f"Pool {pool.name} ({pool.range_display}) would fall outside."}
                    )


class IPPool(models.Model):
    """A range of a network's addresses handed to VMs, less the excluded ones."""

    network = models.ForeignKey(Network, on_delete=models.PROTECT, related_name="pools")
    name = models.CharField(max_length=63, validators=[validate_config_name])
    first_address = models.GenericIPAddressField()
    last_address = models.GenericIPAddressField()
    excluded = models.TextField(
        blank=True,
        help_text="Addresses or ranges (a-b) never handed out, separated by commas or lines.",
    )
    cursor = models.CharField(
        max_length=32, blank=True, editable=False, help_text="Key of the last address handed out."
    )
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["network__prefix", "name"]
        verbose_name = "IP pool"
        constraints = [
            models.UniqueConstraint(fields=["network", "name"], name="pool_unique_name"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def first(self) -> netaddr.IPAddress:
        return netaddr.IPAddress(self.first_address)

    @property
    def last(self) -> netaddr.IPAddress:
        return netaddr.IPAddress(self.last_address)

    @property
    def range_display(self) -> str:
        return f"{self.first_address}-{self.last_address}"

    @property
    def size(self) -> int:
        return int(self.last) - int(self.first) + 1

    def contains(self, address: netaddr.IPAddress) -> bool:
        return address.version == self.first.version and int(self.first) <= int(address) <= int(
            self.last
        )

    def excluded_set(self) -> netaddr.IPSet:
        """The excluded addresses; raises ValueError naming the entry it cannot read."""
        result = netaddr.IPSet()
        for entry in self.excluded.replace("\n", ",").split(","):
            entry = entry.strip()
            if not entry:
                continue
            try:
                if "-" in entry:
                    start, end = (part.strip() for part in entry.split("-", 1))
                    result.add(netaddr.IPRange(start, end))
                else:
                    result.add(netaddr.IPAddress(entry))
            except (netaddr.AddrFormatError, ValueError, TypeError):
                raise ValueError(f'"{entry}" is not an address or a range a-b.') from None
        return result

    def clean(self) -> None:
        if is_config_name(self.name) and self.network_id:
            same = IPPool.objects.filter(network_id=self.network_id, name=self.name)
            if same.exclude(pk=self.pk).exists():
                raise ValidationError({"name": f"Network {self.network} has a pool {self.name}."})
        first, last = parse_ip(self.first_address), parse_ip(self.last_address)
        if first is None or last is None or not self.network_id:
            return
        network = self.network.ip_network
        for field, address in (("first_address", first), ("last_address", last)):
            if address.version != network.version:
                raise ValidationError(
                    {field: f"Use IPv{network.version} addresses for network {network}."}
                )
        if first not in network:
            raise ValidationError({"first_address": f"{first} is outside network {network}."})
        if last not in network:
            raise ValidationError({"last_address": f"{last} is outside network {network}."})
        if int(first) > int(last):
            raise ValidationError({"last_address": "The last address comes before the first."})
        for other in IPPool.objects.filter(network=self.network).exclude(pk=self.pk):
            if int(first) <= int(other.last) and int(other.first) <= int(last):
                raise ValidationError(
                    {"first_address": f"Overlaps pool {other.name} ({other.range_display})."}
                )
        cluster = self.network.cluster
        for gateway in (cluster.gateway_ipv4, cluster.gateway_ipv6):
            if gateway and self.contains(netaddr.IPAddress(gateway)):
                raise ValidationError(
                    {"first_address": f"The range holds the cluster's gateway {gateway}."}
                )
        try:
            excluded = self.excluded_set()
        except ValueError as exc:
            raise ValidationError({"excluded": str(exc)}) from None
        outside = excluded - netaddr.IPSet(netaddr.IPRange(first, last))
        if outside:
            raise ValidationError(
                {"excluded": f"Excluded addresses outside the pool: {outside.iter_cidrs()[0]}."}
            )
        if self.pk:
            in_use = IPAddress.objects.filter(pool=self, status=IPAddress.Status.ALLOCATED)
            for ip in in_use.only("address"):
                if not self.contains(netaddr.IPAddress(ip.address)):
                    raise ValidationError(
                        {"first_address": f"{ip.address} is in use and would fall outside."}
                    )


class IPAddress(models.Model):
    """An address of a pool that is not free: allocated to a VM, reserved or quarantined.

    Free addresses have no row. The unique constraint on `address` is what makes handing
    out one address twice impossible, whatever the application does.
    """

    class Status(models.TextChoices):
        ALLOCATED = "allocated", "Allocated"
        RESERVED = "reserved", "Reserved"
        QUARANTINED = "quarantined", "Quarantined"

    pool = models.ForeignKey(IPPool, on_delete=models.PROTECT, related_name="addresses")
    address = models.GenericIPAddressField(unique=True)
    family = models.PositiveSmallIntegerField(choices=[(4, "IPv4"), (6, "IPv6")])
    key = models.CharField(max_length=32, editable=False)
    status = models.CharField(max_length=16, choices=Status.choices)
    vm = models.ForeignKey(
        "compute.VirtualMachine",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="ip_addresses",
    )
    description = models.CharField(
        max_length=200, blank=True, validators=[validate_config_description]
    )
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["family", "key"]
        verbose_name = "IP address"
        verbose_name_plural = "IP addresses"
        indexes = [models.Index(fields=["pool", "key"], name="ipaddress_pool_key")]
        constraints = [
            models.CheckConstraint(
                condition=(Q(status="allocated") & Q(vm__isnull=False))
                | (~Q(status="allocated") & Q(vm__isnull=True)),
                name="ipaddress_allocated_iff_vm",
            ),
            models.UniqueConstraint(
                fields=["vm", "family"],
                condition=Q(vm__isnull=False),
                name="ipaddress_one_per_family_per_vm",
            ),
            models.CheckConstraint(condition=Q(family__in=[4, 6]), name="ipaddress_family_valid"),
        ]

    def __str__(self) -> str:
        return self.address

    derived_fields = ("address", "family", "key")  # see instance_update

    def save(self, *args, **kwargs):
        address = netaddr.IPAddress(self.address)
        self.address, self.family, self.key = str(address), address.version, address_key(address)
        super().save(*args, **kwargs)

    def clean(self) -> None:
        address = parse_ip(self.address)
        if address is not None and self.pool_id and not self.pool.contains(address):
            raise ValidationError(
                {"address": f"{address} is outside pool {self.pool} ({self.pool.range_display})."}
            )
        if self.status == self.Status.ALLOCATED and not self.vm_id:
            raise ValidationError({"vm": "An allocated address needs its VM."})
        if self.status != self.Status.ALLOCATED and self.vm_id:
            raise ValidationError({"vm": "Only allocated addresses belong to a VM."})
