"""Times are stored in UTC and shown in the display time zone (``ROOTLINE_TIMEZONE``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from bs4 import BeautifulSoup
from fastapi.testclient import TestClient
from pydantic import ValidationError
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from rootline.config import Settings
from rootline.web.app import create_app
from rootline.web.deps import get_session
from tests.test_web_pages import login, seed


def _run_time(settings: Settings, engine: Engine, session: Session, zone: str) -> list[str]:
    """The clustering run's time as the themes page shows it, in ``zone``."""
    web = create_app(settings.model_copy(update={"timezone": zone}), engine)

    def _test_session() -> Iterator[Session]:
        yield session
        session.flush()

    web.dependency_overrides[get_session] = _test_session
    seed(session)  # the run finished at 2026-11-20 00:00 UTC
    with TestClient(web) as client:
        login(client, session, "viewer")
        page = BeautifulSoup(client.get("/themes").text, "html.parser")
    return [f"{t['datetime']} {t.get_text()}" for t in page.find_all("time")]


def test_default_is_utc(settings: Settings, engine: Engine, session: Session) -> None:
    assert "2026-11-20T00:00:00Z 2026-11-20 00:00 UTC" in _run_time(
        settings, engine, session, "UTC"
    )


def test_a_display_zone_shows_local_time_with_its_name(
    settings: Settings, engine: Engine, session: Session
) -> None:
    shown = _run_time(settings, engine, session, "America/New_York")
    assert "2026-11-20T00:00:00Z 2026-11-19 19:00 EST" in shown


def test_an_unknown_zone_is_refused_by_name() -> None:
    with pytest.raises(ValidationError, match="unknown time zone 'Mars/Olympus'"):
        Settings(timezone="Mars/Olympus", _env_file=None)  # type: ignore[call-arg]
