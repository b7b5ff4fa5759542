"""The whole JSON API under Schemathesis, as every role: requests generated from
``/openapi.json``, schema-valid and not; not one answer is a server error, and every answer is
documented: its status code, its content type and its body match the operation's schema.

Operations are driven one by one through Hypothesis (``derandomize``: the same requests on every
run), on an app with its real per-request sessions over a seeded SQLite file.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy.orm import Session

from rootline.config import Settings
from rootline.db import make_engine, migrate
from rootline.rootcause.service import add_comment, create_problem
from rootline.rootcause.teams import ROLES
from rootline.web.accounts import create_token, ensure_user
from rootline.web.app import create_app
from tests.test_web_pages import seed

pytestmark = [pytest.mark.slow]

#: Generated requests per operation and generation mode.
EXAMPLES = 10
#: What every answer is held to.
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, dict[str, str]]]:
    """The app over a seeded database with a problem (so lists of problems, comments and
    audit entries have bodies to check), and an API token of a user of each role."""
    folder: Path = tmp_path_factory.mktemp("schemathesis")
    engine = make_engine(f"sqlite:///{folder / 'rootline.db'}")
    migrate(engine)
    tokens = {}
    with Session(engine) as session:
        seeded = seed(session)
        problem = create_problem(session, [seeded.card], actor="test")
        add_comment(session, problem.id, "Seen again after the release.", actor="test")
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


def _problem(operation: str, status: int, failure: Any) -> str:
    """One line naming what is wrong, the same for every request that shows it."""
    detail = failure.message.splitlines()[0] if failure.message else ""
    return f"{operation} -> {status}: {failure.title}: {detail:.160}"


@pytest.mark.parametrize("role", ROLES)
def test_every_generated_request_is_answered_as_documented(
    api: tuple[Any, dict[str, str]], operations: list[Any], role: str
) -> None:
    headers = {"Authorization": f"Bearer {api[1][role]}"}
    #: What is wrong -> how many answers show it, and the first request that did.
    problems: Counter[str] = Counter()
    examples: dict[str, str] = {}
    sent = server_errors = failed = 0
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
            nonlocal sent, server_errors, failed
            sent += 1
            response = case.call(headers=headers)
            server_errors += response.status_code >= 500
            try:
                case.validate_response(response, checks=CHECKS, headers=headers)
            except FailureGroup as group:
                failed += 1
                for failure in group.exceptions:
                    problem = _problem(case.operation.label, response.status_code, failure)
                    problems[problem] += 1
                    examples.setdefault(
                        problem, f"{case.formatted_path} query={case.query} body={case.body!r:.120}"
                    )

        try:
            run()
        except Unsatisfiable:
            assert mode is GenerationMode.NEGATIVE  # an operation with no input to get wrong
    print(f"{role}: {sent} requests, {server_errors} server errors, {failed} not as documented")
    assert len(operations) >= 35 and sent >= 10 * len(operations)
    assert not problems, (
        f"{failed} of {sent} answers not as documented, {len(problems)} distinct problems:\n"
        + "\n".join(f"{n:4} x {p}\n       e.g. {examples[p]}" for p, n in sorted(problems.items()))
    )
