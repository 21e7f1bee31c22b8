"""Contract C8: the OpenAPI document says exactly what the API does.

schemathesis generates requests from ``/openapi.json`` (valid ones and, in its negative phase, invalid
ones) and runs every check against the real app (ASGI, SQLite, a seeded tiny county, an admin token):
no 5xx, only documented status codes and content types, responses that match their schemas,
schema-valid requests accepted (2xx, or the documented refusals of a business rule: 401/403/404/409),
schema-invalid ones refused. Deterministic (fixed seed, derandomized), a bounded number of examples per
operation.

Routes that end the caller's own session (``SELF_ENDING``) run in their own test with a throwaway
account, so they cannot log the admin out halfway through the run.
"""

from __future__ import annotations

import asyncio
import gc
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase
from hypothesis import settings as hsettings
from schemathesis.python import asgi

from tests.county import PASSWORD, insert_county

#: Examples per operation (positive and negative fuzzing each); the whole run stays around a minute.
EXAMPLES = 15
#: Refusals that schema-valid input may still get: not logged in, not your role, not found or outside your
#: jurisdiction, and a business rule of the current state (illegal step, stale version, duplicate; 412 where a
#: route answers a stale version as a failed precondition).
BUSINESS_REFUSALS = ["2xx", "401", "403", "404", "409", "412"]
#: Operations whose input has a rule between fields that JSON Schema cannot state (documented in the route's
#: description): a schema-valid request may get 422 there.
CROSS_FIELD_RULES = [
    "/api/v1/stats/events",  # start/end must not cross, at most three years
    "/api/v1/cameras/{camera_id}/rules",  # the geometry must suit the rule kind (a line has 2 points, …)
    "/api/v1/screens/{name}/layout",  # every tile fits the 24 × 12 grid (x + w, y + h)
    "/api/v1/cameras/import",  # the CSV text needs its header and rows (the schema can only say "a string")
]
WITH_422 = [*BUSINESS_REFUSALS, "422"]
#: Operations left out until their bug is fixed (each entry says what schemathesis found). Keep this empty.
KNOWN_GAPS: list[tuple[str, str]] = []
#: Operations that end the caller's session: run with a throwaway login each.
SELF_ENDING = [("POST", "/api/v1/auth/logout")]

CONFIG = schemathesis.Config.from_dict(
    {
        "seed": 20261128,
        "suppress-health-check": ["too_slow", "filter_too_much", "data_too_large"],
        # the bearer token is the test's own (a case without it would be sent with it, and its 200 taken for
        # an accepted invalid request): schemathesis does not generate or mutate the security parameters
        "generation": {
            "max-examples": EXAMPLES,
            "deterministic": True,
            "database": "none",
            "with-security-parameters": False,
        },
        # The coverage phase (every boundary case the schema defines, ~4 minutes here) runs on request:
        # GRIDHUB_CONTRACT_COVERAGE=1 python3 -m pytest tests/test_openapi_contract.py
        "phases": {"coverage": {"enabled": os.environ.get("GRIDHUB_CONTRACT_COVERAGE") == "1"}},
        "checks": {"positive_data_acceptance": {"expected-statuses": BUSINESS_REFUSALS}},
        "operations": [
            {"include-path": "/api/v1/auth/login", "generation": {"max-examples": 4}},  # argon2: ~0.3 s a call
            *(
                {"include-path": path, "checks": {"positive_data_acceptance": {"expected-statuses": WITH_422}}}
                for path in CROSS_FIELD_RULES
            ),
        ],
    }
)


class Hub:
    def __init__(self, app: Any) -> None:
        self.app = app
        self.client = asgi.get_client(app)

    def login(self, username: str) -> str:
        r = self.client.post("http://testserver/api/v1/auth/login", json={"username": username, "password": PASSWORD})
        assert r.status_code == 200, r.text
        return r.json()["access_token"]


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    from hub.app import create_app
    from hub.db import create_engine, create_session_factory
    from hub.migrations import upgrade
    from hub.settings import Settings

    data_dir: Path = tmp_path_factory.mktemp("contract")
    settings = Settings(data_dir=data_dir, database_url="", secret_key="contract-" + "k" * 40, redis_url="")
    upgrade(settings.resolved_database_url)

    async def seed() -> None:
        engine = create_engine(settings)
        async with create_session_factory(engine)() as session:
            await insert_county(session)
        await engine.dispose()

    asyncio.run(seed())
    hub = Hub(create_app(settings))
    headers = {"Authorization": f"Bearer {hub.login('t1_worker')}"}
    for i in range(3):  # a few events, so that ids 1..3 exist
        body = {"title": f"人民路暴露垃圾{i}", "category_code": "010101", "grid_code": "330100001001001"}
        r = hub.client.post("http://testserver/api/v1/events", json=body, headers=headers)
        assert r.status_code == 201, r.text
    # The test process holds a large heap (hypothesis, schemathesis): keep it out of full collections,
    # which otherwise pause every request for half a second.
    gc.collect()
    gc.freeze()
    yield hub
    gc.unfreeze()
    hub.client.close()


@pytest.fixture(scope="module")
def contract_schema(hub: Hub) -> Any:
    return schemathesis.openapi.from_asgi("/openapi.json", hub.app, config=CONFIG)


schema = schemathesis.pytest.from_fixture("contract_schema")


def _self_ending(ctx: Any) -> bool:
    return (ctx.operation.method.upper(), ctx.operation.path) in SELF_ENDING


def _left_out(ctx: Any) -> bool:
    return _self_ending(ctx) or (ctx.operation.method.upper(), ctx.operation.path) in KNOWN_GAPS


@schema.exclude(func=_left_out).parametrize()
@hsettings(deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck))
def test_every_operation_does_what_the_document_says(case: Any, hub: Hub, admin_token: str) -> None:
    case.call_and_validate(headers={"Authorization": f"Bearer {admin_token}"})


@schema.include(func=_self_ending).parametrize()
@hsettings(
    deadline=None,
    derandomize=True,
    database=None,
    max_examples=3,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
def test_session_ending_operations_do_what_the_document_says(case: Any, hub: Hub) -> None:
    case.call_and_validate(headers={"Authorization": f"Bearer {hub.login('t2_worker')}"})


@pytest.fixture(scope="module")
def admin_token(hub: Hub) -> str:
    return hub.login("admin")
