"""schemathesis against the app's own OpenAPI schema, served on 127.0.0.1: for every operation,
generated requests (valid and invalid) never get a 5xx. The fake embedder keeps it fast; the run
is bounded by max_examples per operation."""

from __future__ import annotations

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error

from assistant.serve.api import create_app
from tests.conftest import FakeEmbedder
from tests.live import KNOWN_QUOTE, QUESTION, seeded_pipeline, serve_app

EXAMPLES = 12


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    p = seeded_pipeline(tmp_path_factory.mktemp("schema"), FakeEmbedder(), max_upload_mb=1)
    s = serve_app(create_app(p, ui=False))
    yield s
    s.stop()


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE],
                         ids=["gueltig", "ungueltig"])
def test_no_request_gets_a_server_error(served, mode):
    schema = schemathesis.openapi.from_url(served.url + "/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    routes = {f"{m.upper()} {path}" for path, ops in served.app.openapi()["paths"].items() for m in ops}
    assert {op.label for op in operations} == routes and "POST /v1/chat/completions" in routes
    spec = served.app.openapi()["paths"]
    with_body = {f"{m.upper()} {path}" for path, ops in spec.items() for m, o in ops.items()
                 if o.get("requestBody")}
    tried = set()
    for op in operations:  # schemathesis' pytest loader does not run under pytest 9: one strategy each

        @given(case=op.as_strategy(generation_mode=mode))
        @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        def call(case: schemathesis.Case) -> None:
            response = case.call(base_url=served.url, timeout=60)
            assert response.status_code < 500, f"{case.method} {case.path}: {response.text[:300]}"
            case.validate_response(response, checks=[not_a_server_error])

        try:
            call()
            tried.add(op.label)
        except Unsatisfiable:  # negative mode: nothing invalid to send (no body, any string for an id)
            assert mode == GenerationMode.NEGATIVE and op.label not in with_body
    assert with_body <= tried and (mode == GenerationMode.NEGATIVE or tried == routes)


def test_the_index_still_answers_after_the_run(served):
    body = httpx.post(served.url + "/api/ask", json={"question": QUESTION}, timeout=60).json()
    assert KNOWN_QUOTE in body["citations"][0]["quote"]
