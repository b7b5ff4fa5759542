"""The whole JSON API under Schemathesis, as every role: requests generated from
``/openapi.json``, schema-valid and not, and not one answer is a server error.

Operations are driven one by one through Hypothesis (``derandomize``: the same requests on every
run), on an app with its real per-request sessions over a seeded SQLite file.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from sqlalchemy.orm import Session

from rootline.config import Settings
from rootline.db import make_engine, migrate
from rootline.rootcause.teams import ROLES
from rootline.web.accounts import create_token, ensure_user
from rootline.web.app import create_app
from tests.test_web_pages import seed

pytestmark = [pytest.mark.slow]

#: Generated requests per operation and generation mode.
EXAMPLES = 10


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, dict[str, str]]]:
    """The app over a seeded database, and an API token of a user of each role."""
    folder: Path = tmp_path_factory.mktemp("schemathesis")
    engine = make_engine(f"sqlite:///{folder / 'rootline.db'}")
    migrate(engine)
    tokens = {}
    with Session(engine) as session:
        seed(session)
        for role in ROLES:
            user = ensure_user(session, f"{role}@example.com", role, "correct horse battery")
            tokens[role] = create_token(session, user, "schemathesis", actor="test")[1]
        session.commit()
    config = Settings(data_dir=folder, embedder="hashing", _env_file=None)  # type: ignore[call-arg]
    yield create_app(config, engine), tokens
    engine.dispose()


@pytest.fixture(scope="module")
def operations(api: tuple[Any, dict[str, str]]) -> list[Any]:
    app, tokens = api
    schema = schemathesis.openapi.from_asgi(
        "/openapi.json", app, headers={"Authorization": f"Bearer {tokens['admin']}"}
    )
    return [result.ok() for result in schema.get_all_operations()]


@pytest.mark.parametrize("role", ROLES)
def test_no_generated_request_is_a_server_error(
    api: tuple[Any, dict[str, str]], operations: list[Any], role: str
) -> None:
    headers = {"Authorization": f"Bearer {api[1][role]}"}
    errors: list[str] = []
    sent = 0
    for operation, mode in itertools.product(operations, GenerationMode):

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def run(case: Any) -> None:
            nonlocal sent
            sent += 1
            response = case.call(headers=headers)
            if response.status_code >= 500:
                errors.append(
                    f"{response.status_code} {case.method} {case.formatted_path} "
                    f"query={case.query} body={case.body!r:.200}"
                )

        try:
            run()
        except Unsatisfiable:
            assert mode is GenerationMode.NEGATIVE  # an operation with no input to get wrong
    assert len(operations) >= 35 and sent >= 10 * len(operations)
    assert not errors, f"{len(errors)} of {sent} requests: " + "\n".join(errors[:20])
