"""Signals of tenancy: a deleted membership, however deleted, revokes the keys it gave."""

from django.db.models.signals import post_delete
from django.dispatch import receiver

from apps.tenancy.models import Membership
from apps.tenancy.services import member_keys_revoke


@receiver(post_delete, sender=Membership, dispatch_uid="tenancy.membership_keys_revoke")
def membership_deleted(sender, instance: Membership, **kwargs) -> None:
    member_keys_revoke(user_id=instance.user_id, tenant_id=instance.tenant_id)
