"""The one mixin every API resource test uses (STYLE.md item 8).

A test class sets the path, who may read and write, and how to make an object of tenant A
(or a platform object) and a valid create body; it gets: anonymous 401, readers see it,
other roles 403, another tenant 404, create / invalid create / update / delete, write-only
fields never shown, and a paginated, ordered list.
"""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.api.conftest import assert_error

ALL_READERS = ("admin", "operator", "auditor", "alice", "alice_ro")
STAFF_READERS = ("admin", "operator", "auditor")
TENANT_PRINCIPALS = ("alice", "alice_ro", "bob", "b_key")


class ResourceTests:
    path = ""
    readers = ALL_READERS
    forbidden_readers: tuple = ()
    writer = "operator"
    creator: str | None = None  # who creates (default: the writer)
    forbidden_writers = ("auditor", "alice")
    outsider: str | None = None  # a principal of tenant B: A's object answers 404
    can_create = can_update = can_delete = True
    create_status, update_status, delete_status = 201, 200, 204
    hidden_fields: tuple = ()
    update: dict = {"description": "changed by the api"}

    def make(self, world):
        raise NotImplementedError

    def writable(self, world):
        """The object the update/delete tests change (by default: `make`)."""
        return self.make(world)

    def payload(self, world) -> dict:
        raise NotImplementedError

    def bad_payload(self, world) -> tuple[dict, str]:
        """A create body that must be refused, and the field the error names."""
        return {}, "name"

    def detail(self, obj) -> str:
        return f"{self.path}{obj.pk}/"

    def _no_hidden(self, body: dict) -> None:
        for name in self.hidden_fields:
            assert name not in body, f"{name} must never be shown"

    # --- authentication and scope --------------------------------------------------------

    def test_anonymous_is_401(self, world):
        obj, client = self.make(world), world.client("anonymous")
        for response in (
            client.get(self.path),
            client.get(self.detail(obj)),
            client.post(self.path, {}, format="json"),
        ):
            assert_error(response, 401, "not_authenticated")
            assert response["WWW-Authenticate"].startswith("Bearer")

    def test_readers_list_and_see_the_object(self, world):
        obj = self.make(world)
        for who in self.readers:
            client = world.client(who)
            listed = client.get(self.path, {"page_size": 1000})
            assert listed.status_code == 200, (who, listed.content[:300])
            assert obj.pk in [row["id"] for row in listed.json()["results"]], who
            shown = client.get(self.detail(obj))
            assert shown.status_code == 200, (who, shown.content[:300])
            assert shown.json()["id"] == obj.pk
            self._no_hidden(shown.json())
            for row in listed.json()["results"]:
                self._no_hidden(row)

    def test_roles_that_may_not_read_get_403(self, world):
        obj = self.make(world)
        for who in self.forbidden_readers:
            assert_error(world.client(who).get(self.path), 403, "permission_denied")
            assert_error(world.client(who).get(self.detail(obj)), 403, "permission_denied")

    def test_another_tenant_gets_404(self, world):
        if not self.outsider:
            pytest.skip("a platform resource: every allowed role sees it")
        obj, client = self.make(world), world.client(self.outsider)
        listed = client.get(self.path, {"page_size": 1000})
        assert listed.status_code == 200
        assert obj.pk not in [row["id"] for row in listed.json()["results"]]
        assert_error(client.get(self.detail(obj)), 404, "not_found")
        if self.can_update:
            assert_error(client.patch(self.detail(obj), self.update, format="json"), 404)
        if self.can_delete:
            assert_error(client.delete(self.detail(obj)), 404)

    # --- writes ---------------------------------------------------------------------------

    def test_create(self, world):
        if not self.can_create:
            assert world.client(self.writer).post(self.path, {}, format="json").status_code == 405
            return
        creator = world.client(self.creator or self.writer)
        response = creator.post(self.path, self.payload(world), format="json")
        assert response.status_code == self.create_status, response.content[:1000]
        body = response.json()
        assert body["id"]
        self._no_hidden(body)
        if self.create_status == 202:
            assert body["job"]["url"] == f"/api/v1/jobs/{body['job']['id']}/"

    def test_invalid_create_names_the_field(self, world):
        if not self.can_create:
            pytest.skip("read-only resource")
        payload, field = self.bad_payload(world)
        response = world.client(self.creator or self.writer).post(self.path, payload, format="json")
        assert_error(response, 400, "validation_error", field)

    def test_roles_that_may_not_write_get_403(self, world):
        obj = self.writable(world)
        for who in self.forbidden_writers:
            client = world.client(who)
            if self.can_create:
                assert_error(client.post(self.path, self.payload(world), format="json"), 403)
            if self.can_update:
                assert_error(client.patch(self.detail(obj), self.update, format="json"), 403)
            if self.can_delete:
                assert_error(client.delete(self.detail(obj)), 403)

    def test_update(self, world):
        if not self.can_update:
            pytest.skip("not updatable")
        obj = self.writable(world)
        response = world.client(self.writer).patch(self.detail(obj), self.update, format="json")
        assert response.status_code == self.update_status, response.content[:1000]
        for name, value in self.update.items():
            assert response.json()[name] == value

    def test_delete(self, world):
        if not self.can_delete:
            pytest.skip("not deletable")
        obj = self.writable(world)
        response = world.client(self.writer).delete(self.detail(obj))
        assert response.status_code == self.delete_status, response.content[:1000]

    # --- lists ----------------------------------------------------------------------------

    def test_list_is_paginated_and_ordered(self, world):
        self.make(world)
        self.make(world)
        client = world.client(self.readers[0])
        page = client.get(self.path, {"page_size": 1, "ordering": "-id"}).json()
        assert page["count"] >= 2 and len(page["results"]) == 1 and page["next"]
        ids = [row["id"] for row in client.get(self.path, {"ordering": "-id"}).json()["results"]]
        assert ids == sorted(ids, reverse=True)
        assert_error(client.get(self.path, {"page": 999}), 404, "not_found")

    def test_unknown_ordering_is_400_naming_the_parameter(self, world):
        self.make(world)
        client = world.client(self.readers[0])
        response = client.get(self.path, {"ordering": "-id,no_such_field"})
        error = assert_error(response, 400, "validation_error", "ordering")
        message = error["fields"]["ordering"][0]
        assert "no_such_field" in message and "id" in message.split("allowed:")[1]

    def test_list_queries_do_not_grow_with_the_rows(self, world):
        client = world.client(self.readers[0])
        counts = []
        for _ in range(2):
            for _ in range(3):
                self.make(world)
            client.get(self.path)  # the key's last_used write happens once, here
            with CaptureQueriesContext(connection) as queries:
                assert client.get(self.path, {"page_size": 1000}).status_code == 200
            counts.append(len(queries))
        assert counts[0] == counts[1], counts
