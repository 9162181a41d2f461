"""Every model is registered in the admin and its pages render for an operator."""

import pytest
from django.apps import apps
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.urls import reverse

from apps.fabric.models import Cluster, RouteReflector

pytestmark = pytest.mark.django_db

PROJECT_APPS = ["tenancy", "fabric", "ipam", "compute", "jobs"]
PROJECT_MODELS = [m for label in PROJECT_APPS for m in apps.get_app_config(label).get_models()]


@pytest.fixture
def admin_client(client):
    user = get_user_model().objects.create_superuser("root", password="pw-long-enough-1")
    client.force_login(user)
    return client


@pytest.mark.parametrize("model", PROJECT_MODELS, ids=lambda m: m._meta.label)
def test_model_is_registered_and_its_list_renders(admin_client, model):
    assert admin.site.is_registered(model)
    url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
    assert admin_client.get(url).status_code == 200


def test_credentials_are_never_shown_back_and_blank_keeps_them(admin_client):
    cluster = Cluster.objects.create(name="c1", bgp_asn=65000, bgp_community="65000:100")
    rr = RouteReflector.objects.create(
        cluster=cluster, name="rr1", peering_ip="198.51.100.2", ssh_private_key="KEYMATERIAL"
    )
    url = reverse("admin:fabric_routereflector_change", args=[rr.pk])
    page = admin_client.get(url).content.decode()
    assert "KEYMATERIAL" not in page
    assert "Stored (encrypted). Leave blank to keep it." in page

    form = {
        "cluster": cluster.pk, "name": "rr1", "description": "renamed", "ssh_host": "",
        "ssh_port": 22, "ssh_username": "root", "ssh_password": "", "ssh_private_key": "",
        "ssh_host_key": "", "bird_config_path": "/etc/bird/bird.conf",
        "bird_socket_path": "/run/bird/bird.ctl", "peering_ip": "198.51.100.2", "state": "new",
    }  # fmt: skip
    response = admin_client.post(url, form)
    assert response.status_code == 302, response.content.decode()[:2000]
    rr.refresh_from_db()
    assert rr.description == "renamed"
    assert rr.ssh_private_key == "KEYMATERIAL"


@pytest.mark.parametrize("model", ["fabric.cluster", "fabric.node", "compute.virtualmachine"])
def test_objects_made_by_workflows_have_no_add_in_the_admin(admin_client, model):
    app, name = model.split(".")
    assert admin_client.get(reverse(f"admin:{app}_{name}_add")).status_code == 403
    listing = admin_client.get(reverse(f"admin:{app}_{name}_changelist")).content.decode()
    assert reverse(f"admin:{app}_{name}_add") not in listing


def test_the_admin_spells_ip_addresses(admin_client):
    assert "IP addresses" in admin_client.get(reverse("admin:index")).content.decode()


def test_admin_form_shows_field_error_for_bad_name(admin_client):
    cluster = Cluster.objects.create(name="c1", bgp_asn=65000, bgp_community="65000:100")
    url = reverse("admin:fabric_cluster_change", args=[cluster.pk])
    response = admin_client.post(
        url,
        {
            "name": 'bad"name', "description": "", "network_type": "ip_fabric",
            "virtualization": "kvm", "bgp_asn": 65000, "bgp_community": "65000:100",
            "gateway_ipv4": "10.0.0.1", "gateway_ipv6": "fe80::1",
            "gateway_mac": "02:00:0a:00:00:01", "commit_confirm_minutes": 5, "state": "new",
        },
    )  # fmt: skip
    assert response.status_code == 200
    assert "Use 1-63 letters, digits" in response.content.decode()
    assert Cluster.objects.get().name == "c1"
