"""Settings: typed, read from the environment, and every one documented in the README."""

from __future__ import annotations

from pathlib import Path

import pytest

from rootline.config import Settings

README = Path(__file__).resolve().parent.parent / "README.md"


def test_every_setting_is_documented_in_the_readme() -> None:
    text = README.read_text(encoding="utf-8")
    missing = [
        f"ROOTLINE_{name.upper()}"
        for name in Settings.model_fields
        if f"ROOTLINE_{name.upper()}" not in text
    ]
    assert not missing, f"settings missing from README.md: {missing}"


def test_environment_overrides_and_sqlite_default(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("ROOTLINE_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("ROOTLINE_PORT", "9001")
    s = Settings(_env_file=None)  # type: ignore[call-arg]
    assert s.port == 9001
    assert s.resolved_database_url() == f"sqlite:///{tmp_path / 'rootline.db'}"
    monkeypatch.setenv("ROOTLINE_DATABASE_URL", "postgresql://x@h/db")
    assert Settings(_env_file=None).resolved_database_url() == "postgresql://x@h/db"  # type: ignore[call-arg]


def test_wrong_type_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROOTLINE_PORT", "eighty")
    with pytest.raises(ValueError, match="port"):
        Settings(_env_file=None)  # type: ignore[call-arg]
