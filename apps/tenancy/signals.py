"""Signals of tenancy: a deleted membership or user, however deleted, revokes the keys it
gave. Sent before the delete: a cascade from the user sets the keys' `created_by` to NULL
before any post-delete signal, which would then find none of the keys the user made."""

from django.conf import settings
from django.db.models.signals import pre_delete
from django.dispatch import receiver

from apps.tenancy.models import Membership
from apps.tenancy.services import member_keys_revoke, user_keys_revoke


@receiver(pre_delete, sender=Membership, dispatch_uid="tenancy.membership_keys_revoke")
def membership_deleting(sender, instance: Membership, **kwargs) -> None:
    member_keys_revoke(user_id=instance.user_id, tenant_id=instance.tenant_id, leaving=instance.pk)


@receiver(pre_delete, sender=settings.AUTH_USER_MODEL, dispatch_uid="tenancy.user_keys_revoke")
def user_deleting(sender, instance, **kwargs) -> None:
    user_keys_revoke(user_id=instance.pk)
