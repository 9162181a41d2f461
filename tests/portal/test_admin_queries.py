"""The administration lists cost a fixed number of queries, whatever the number of rows."""

import pytest
from django.contrib.auth import get_user_model

from apps.compute.models import Plan
from apps.tenancy.models import ApiKey, Membership, Tenant

pytestmark = pytest.mark.django_db

ROWS = 120
MAX_QUERIES = 10


@pytest.fixture
def many(world):
    tenants = Tenant.objects.bulk_create(Tenant(name=f"bulk-{i}") for i in range(ROWS))
    users = get_user_model().objects.bulk_create(
        get_user_model()(username=f"bulk-user-{i}") for i in range(ROWS)
    )
    Membership.objects.bulk_create(
        Membership(user=user, tenant=tenant, role="tenant_user")
        for user, tenant in zip(users, tenants, strict=True)
    )
    ApiKey.objects.bulk_create(
        ApiKey(name=f"key-{i}", prefix=f"fpk_{i:08d}", hashed_key=f"{i:064d}",
               tenant=world.tenant_a if i % 2 else tenants[i], role="tenant_user",
               created_by=users[i])
        for i in range(ROWS)
    )  # fmt: skip
    Plan.objects.bulk_create(
        Plan(name=f"plan-{i}", vcpus=1 + i % 8, memory_mb=512, disk_gb=10) for i in range(ROWS)
    )
    return world


@pytest.mark.parametrize(
    ("who", "url", "row"),
    [
        ("admin", "/tenants/", "bulk-1"),
        ("admin", "/memberships/", "bulk-user-1"),
        ("admin", "/plans/", "plan-1"),
        ("admin", "/api-keys/", "key-1"),
        ("alice", "/api-keys/", "key-1"),
    ],
)
def test_admin_lists_are_bounded(many, django_assert_max_num_queries, who, url, row):
    client = many.client(who)
    with django_assert_max_num_queries(MAX_QUERIES):
        response = client.get(url)
    assert response.status_code == 200 and row in response.content.decode()
