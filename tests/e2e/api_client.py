"""A minimal HTTP client for the REST API, as a billing system or a script would use it."""

import json
import time
import urllib.error
import urllib.request


class ApiError(AssertionError):
    pass


class Api:
    def __init__(self, base_url: str, key: str):
        self.base_url = base_url.rstrip("/") + "/api/v1"
        self.key = key

    def request(
        self,
        method: str,
        path: str,
        body: dict | None = None,
        *,
        expect: int | tuple = (200, 201, 202, 204),
        headers: dict | None = None,
    ):
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(  # noqa: S310 - the test's own http:// live server
            self.base_url + path, data=data, method=method,
            headers={"Authorization": f"Bearer {self.key}", "Content-Type": "application/json",
                     "Accept": "application/json", **(headers or {})},
        )  # fmt: skip
        try:
            with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310
                status, raw = response.status, response.read()
        except urllib.error.HTTPError as error:
            status, raw = error.code, error.read()
        payload = json.loads(raw) if raw else None
        expected = expect if isinstance(expect, tuple) else (expect,)
        if status not in expected:
            raise ApiError(f"{method} {path} answered {status}, expected {expected}: {payload}")
        return payload

    def get(self, path: str, **kw):
        return self.request("GET", path, **kw)

    def post(self, path: str, body: dict | None = None, **kw):
        return self.request("POST", path, body or {}, **kw)

    def delete(self, path: str, **kw):
        return self.request("DELETE", path, **kw)

    def wait_job(self, job: dict, timeout: float = 120) -> dict:
        """Poll /jobs/<id>/ until the job is done; returns the job as the API shows it."""
        deadline = time.monotonic() + timeout
        while True:
            current = self.get(f"/jobs/{job['id']}/")
            if current["state"] in ("succeeded", "failed"):
                return current
            if time.monotonic() > deadline:
                raise ApiError(f"job {job['id']} still {current['state']} after {timeout}s")
            time.sleep(0.25)

    def succeeded(self, job: dict, timeout: float = 120) -> dict:
        done = self.wait_job(job, timeout)
        if done["state"] != "succeeded":
            steps = "\n".join(f"  {s['name']}: {s['state']} {s.get('output', '')[-300:]}"
                              for s in done["steps"])  # fmt: skip
            raise ApiError(f"job {done['id']} ({done['kind']}) failed: {done['error']}\n{steps}")
        return done
