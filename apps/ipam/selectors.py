"""Reads for IPAM."""

from django.db.models import Count, QuerySet

from apps.ipam.models import IPPool


def pool_list() -> QuerySet[IPPool]:
    """Pools with their network and cluster, and `used`: their addresses not free
    (allocated, reserved, quarantined)."""
    return IPPool.objects.select_related("network__cluster").annotate(used=Count("addresses"))
