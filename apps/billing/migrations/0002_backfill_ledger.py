"""Start the ledger with what exists: each VM's current state and addresses."""

from django.db import migrations


def backfill(apps, schema_editor):
    VirtualMachine = apps.get_model("compute", "VirtualMachine")
    IPAddress = apps.get_model("ipam", "IPAddress")
    UsageEvent = apps.get_model("billing", "UsageEvent")
    events = []
    vms = VirtualMachine.objects.exclude(state="deleted").select_related("plan")
    for vm in vms.iterator():
        snapshot = {
            "tenant_id": vm.tenant_id,
            "vm_id": vm.pk,
            "plan_id": vm.plan_id,
            "plan_name": vm.plan.name,
            "kind": vm.plan.kind,
        }
        events.append(UsageEvent(**snapshot, event_type="state", state=vm.state, at=vm.state_changed))
        for ip in IPAddress.objects.filter(vm=vm, status="allocated"):
            events.append(
                UsageEvent(
                    **snapshot,
                    event_type="ip_assigned",
                    address=ip.address,
                    family=ip.family,
                    at=ip.created,
                )
            )
    UsageEvent.objects.bulk_create(events, batch_size=1000)


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0001_initial"),
        ("compute", "0002_idempotencykey"),
        ("ipam", "0001_initial"),
    ]

    operations = [migrations.RunPython(backfill, migrations.RunPython.noop)]
