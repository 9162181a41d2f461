"""Tenant and membership validation: bad input gives a clear field error, nothing saved."""

import pytest
from django.db import IntegrityError, transaction

from apps.tenancy.models import Membership, Role, Tenant
from tests.factories import build_membership, build_tenant, make_tenant, make_user
from tests.validation import (
    BAD_DESCRIPTIONS,
    BAD_NAMES,
    DESCRIPTION_HINT,
    GOOD_DESCRIPTIONS,
    GOOD_NAMES,
    NAME_HINT,
    assert_rejected,
    assert_valid,
)

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("name", BAD_NAMES)
def test_tenant_name_that_would_break_a_config_is_rejected(name):
    assert_rejected(build_tenant(name=name), "name", NAME_HINT)


@pytest.mark.parametrize("name", GOOD_NAMES)
def test_tenant_good_name_is_accepted(name):
    assert_valid(build_tenant(name=name))


def test_tenant_empty_name_is_rejected():
    assert_rejected(build_tenant(name=""), "name", "blank")


def test_tenant_duplicate_name_is_rejected():
    make_tenant(name="acme")
    assert_rejected(build_tenant(name="acme"), "name", "already exists")


@pytest.mark.parametrize("description", BAD_DESCRIPTIONS)
def test_tenant_description_that_would_break_a_config_is_rejected(description):
    hint = "at most 200" if len(description) > 200 else DESCRIPTION_HINT
    assert_rejected(build_tenant(description=description), "description", hint)


@pytest.mark.parametrize("description", GOOD_DESCRIPTIONS)
def test_tenant_good_description_is_accepted(description):
    assert_valid(build_tenant(description=description))


def test_tenant_user_without_tenant_is_rejected():
    assert_rejected(
        build_membership(role=Role.TENANT_USER, tenant=None), "tenant", "needs a tenant"
    )


@pytest.mark.parametrize("role", [Role.ADMIN, Role.OPERATOR])
def test_staff_with_tenant_is_rejected(role):
    membership = build_membership(role=role, tenant=make_tenant())
    assert_rejected(membership, "tenant", "whole platform")


@pytest.mark.parametrize(
    ("role", "with_tenant"),
    [
        (Role.ADMIN, False),
        (Role.OPERATOR, False),
        (Role.TENANT_USER, True),
        (Role.READ_ONLY, True),
        (Role.READ_ONLY, False),
    ],
)
def test_membership_role_and_tenant_that_fit_are_accepted(role, with_tenant):
    assert_valid(build_membership(role=role, tenant=make_tenant() if with_tenant else None))


@pytest.mark.parametrize(
    ("role", "with_tenant"), [(Role.TENANT_USER, False), (Role.OPERATOR, True)]
)
def test_membership_role_tenant_mismatch_is_refused_by_the_database(role, with_tenant):
    user = make_user()
    tenant = make_tenant() if with_tenant else None
    with pytest.raises(IntegrityError), transaction.atomic():
        Membership.objects.create(user=user, tenant=tenant, role=role)
    assert Membership.objects.count() == 0


def test_tenant_duplicate_name_is_refused_by_the_database():
    make_tenant(name="acme")
    with pytest.raises(IntegrityError), transaction.atomic():
        Tenant.objects.create(name="acme")
    assert Tenant.objects.filter(name="acme").count() == 1


def test_tenant_quota_above_the_maximum_is_rejected():
    assert_rejected(build_tenant(max_vms=100001), "max_vms", "100000")
    assert_valid(build_tenant(max_vms=100000))
