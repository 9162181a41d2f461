"""Tenants read what their VM's job did in plain words; staff keep the step names."""

import re

from tests.portal.conftest import make_job

STEPS = [("ip_allocate", "succeeded", ""), ("hypervisor_create", "succeeded", "virsh start"),
         ("node_apply_bird", "failed", "birdc configure")]  # fmt: skip


def job_page(world, who: str) -> str:
    job = make_job(kind="vm_create", target=world.vm_a, tenant=world.tenant_a, state="failed",
                   steps=STEPS)  # fmt: skip
    response = world.client(who).get(f"/jobs/{job.pk}/")
    assert response.status_code == 200
    return response.content.decode()


def test_a_tenant_reads_plain_words_for_each_step_and_the_failure(world):
    text = re.sub(r"<[^>]+>", " ", job_page(world, "alice"))  # what the page shows
    for words in ("Reserving your address", "Booting", "Announcing the route"):
        assert words in text, words
    assert "Failed while announcing the route." in text
    for name in ("ip_allocate", "hypervisor_create", "node_apply_bird"):
        assert name not in text, name


def test_a_tenants_vm_page_lists_its_last_jobs_steps_in_plain_words(world):
    job_page(world, "operator")  # the VM's last job
    steps = world.client("alice").get(f"/vms/{world.vm_a.pk}/").content.decode()
    steps = re.sub(r"<[^>]+>", " ", steps[steps.index('id="vm-steps"') :])
    assert "Booting" in steps and "hypervisor_create" not in steps


def test_staff_keep_the_step_names(world):
    text = job_page(world, "operator")
    for name in ("ip_allocate", "hypervisor_create", "node_apply_bird"):
        assert name in text, name
