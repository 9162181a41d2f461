"""The one mixin every portal page test uses (STYLE.md item 8).

A test class names the page, who may see it, who gets 403 and who 404 (another tenant),
and, for a page that acts, the POST and who may send it. It gets: anonymous → login,
readers 200, others 403, other tenant 404 (GET and POST), read-only roles 403 on POST with
no action shown, and the writers' POST accepted with the action shown.
"""

PLATFORM = ("admin", "operator", "auditor")
OPERATORS = ("admin", "operator")
TENANT_ROLES = ("alice", "alice_ro", "bob")
EVERYONE = (*PLATFORM, *TENANT_ROLES)


class PageTests:
    readers: tuple = PLATFORM
    forbidden: tuple = (*TENANT_ROLES, "nobody")
    not_found: tuple = ()
    writers: tuple = ()  # roles whose POST is accepted (status 200, 302 or 400)
    read_only: tuple = ()  # roles who see the page but get 403 on POST
    action_marker: str | None = None  # shown to writers only

    def url(self, world) -> str:
        raise NotImplementedError

    def post_url(self, world) -> str | None:
        return None

    def post_data(self, world) -> dict:
        return {}

    # --- the tests ------------------------------------------------------------------------------

    def test_anonymous_is_sent_to_login(self, world):
        client = world.client("anonymous")
        url = self.url(world)
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith("/login/?next=")
        if post_url := self.post_url(world):
            response = client.post(post_url, self.post_data(world))
            assert response.status_code == 302
            assert response["Location"].startswith("/login/?next=")

    def test_readers_see_the_page(self, world):
        for who in self.readers:
            response = world.client(who).get(self.url(world))
            assert response.status_code == 200, (who, response.status_code)
            marker = self.action_marker
            if marker and self.writers:
                shown = marker in response.content.decode()
                assert shown == (who in self.writers), (who, marker, shown)

    def test_other_roles_get_403(self, world):
        for who in self.forbidden:
            response = world.client(who).get(self.url(world))
            assert response.status_code == 403, (who, response.status_code)
            if post_url := self.post_url(world):
                response = world.client(who).post(post_url, self.post_data(world))
                assert response.status_code == 403, (who, "POST", response.status_code)

    def test_another_tenant_gets_404(self, world):
        for who in self.not_found:
            response = world.client(who).get(self.url(world))
            assert response.status_code == 404, (who, response.status_code)
            if post_url := self.post_url(world):
                response = world.client(who).post(post_url, self.post_data(world))
                assert response.status_code == 404, (who, "POST", response.status_code)

    def test_read_only_roles_may_not_post(self, world):
        post_url = self.post_url(world)
        if not post_url:
            return
        for who in self.read_only:
            response = world.client(who).post(post_url, self.post_data(world))
            assert response.status_code == 403, (who, response.status_code)

    def test_writers_may_post(self, world):
        post_url = self.post_url(world)
        if not post_url:
            return
        for who in self.writers:
            response = world.client(who).post(post_url, self.post_data(world))
            assert response.status_code in (200, 302, 400), (who, response.status_code)
