"""Seed a demo cluster on the running lab (`make lab-up`), so the portal drives real routers."""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from apps.compute.models import Plan
from apps.fabric.models import Cluster
from apps.fabric.services import cluster_provision_start, node_create
from apps.jobs.services import job_start
from apps.tenancy.models import Membership, Role, Tenant
from lab.netns import DEFAULT_DIR, Lab
from lab.seeding.records import lab_cluster, lab_node_fields, lab_refresh_records


class Command(BaseCommand):
    help = "Create the cluster 'lab' on the lab's hosts and queue its provisioning."

    def add_arguments(self, parser):
        parser.add_argument("--lab-dir", default=str(DEFAULT_DIR))

    @transaction.atomic
    def handle(self, *args, lab_dir: str, **options):
        try:
            lab = Lab.load(lab_dir)
        except FileNotFoundError:
            raise CommandError(f"no lab in {lab_dir}: run `make lab-up` first") from None
        if existing := Cluster.objects.filter(name="lab").first():
            # a new lab under an existing database: its hosts were never prepared
            lab_refresh_records(lab, existing)
            cluster_provision_start(cluster=existing)
            job_start(kind="reconcile")
            self.stdout.write(
                "Cluster 'lab' exists: its records now point at this lab; provisioning and a "
                "reconcile (node sysctls, packet filter, BIRD, VM routes) are queued. VMs whose "
                "guests went with the previous lab are reported by the reconcile job."
            )
            return
        cluster = lab_cluster(lab)
        cluster_provision_start(cluster=cluster)
        for host in lab.by_role("node"):
            node_create(cluster=cluster, **lab_node_fields(lab, host.name))
        Plan.objects.get_or_create(name="small", defaults={"vcpus": 1, "memory_mb": 1024,
                                                           "disk_gb": 10})  # fmt: skip
        tenant, _ = Tenant.objects.get_or_create(name="demo")
        user_model = get_user_model()
        if not user_model.objects.filter(username="demo").exists():
            user = user_model.objects.create_user("demo", password="demo-tenant-1")
            Membership.objects.create(user=user, tenant=tenant, role=Role.TENANT_USER)
        self.stdout.write(
            "Seeded cluster 'lab' (provisioning and node_add jobs queued). "
            "Tenant login: demo / demo-tenant-1"
        )
