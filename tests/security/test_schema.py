"""Schemathesis against the OpenAPI schema: generated requests (a bounded number,
a fixed seed) to every documented operation, anonymous and with a write token;
none may produce a server error, and the JSON API's errors keep their shape."""

from __future__ import annotations

from pathlib import Path

import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings

from tests.web.live import settings_at, token
from web.app import create_app

EXAMPLES = 40


def test_no_generated_request_makes_a_server_error(tmp_path: Path) -> None:
    app = create_app(settings_at(tmp_path / "home"))
    with TestClient(app):  # runs the lifespan: migrations, seed, demo preset
        secret = token(app, "alice")
        schema = schemathesis.openapi.from_asgi("/openapi.json", app)
        operations = [result.ok() for result in schema.get_all_operations()]
        assert len(operations) >= 15
        failures: list[str] = []
        for operation in operations:

            @given(case=operation.as_strategy())
            @settings(
                max_examples=EXAMPLES,
                derandomize=True,  # a fixed seed: the same requests on every run
                deadline=None,
                database=None,
                suppress_health_check=list(HealthCheck),
            )
            def run(case: schemathesis.Case) -> None:
                for headers in ({}, {"Authorization": f"Bearer {secret}"}):
                    response = case.call(headers=headers)
                    where = f"{case.method} {case.formatted_path}"
                    if response.status_code >= 500:
                        failures.append(f"{where}: {response.status_code} {response.text[:300]}")
                    content_type = response.headers.get("content-type") or [""]
                    is_json = content_type[0].startswith("application/json")
                    checked = is_json and case.method != "HEAD" and "/api/v1/" in case.path
                    if response.status_code >= 400 and checked:
                        body = response.json()
                        if set(body) != {"error"}:
                            failures.append(f"{where}: error body {body!r}")

            run()
        assert failures == [], "\n".join(failures[:20])
