"""Alerts and fix verification on real intent data, through the real command line and model.

A 12-week help desk built from the bundled HWU64 and CLINC150 intents: each text gets a day,
evenly over the weeks, except for two intents. One triples in the last week (its weekly rate
three times that of the eleven weeks before); the other falls to a tenth from a fix date. After
``rootline ingest`` and ``rootline cluster --full`` with all-MiniLM-L6-v2, the tripled intent's
theme (or the parent group its themes share) is the top alert, and ``rootline problems verify``
finds the fixed intent's contacts dropped (promoted from the themes mostly about it; where it
shares a theme with a larger intent, after ``rootline theme split`` as a lead would).
"""

from __future__ import annotations

import csv
import gzip
import io
import json
from datetime import UTC, date, datetime, timedelta
from importlib import resources
from pathlib import Path

import numpy as np
import pytest

from tests.cli_runner import run_rootline

pytestmark = [pytest.mark.model, pytest.mark.slow]

END = date(2026, 9, 27)  # a Sunday: the last of 12 whole weeks
WEEKS = 12
FIX_WEEK = 7  # the fixed intent falls from the start of the eighth week


def _rows(name: str) -> list[dict[str, str]]:
    raw = resources.files("rootline.fixtures").joinpath(f"{name}.csv.gz").read_bytes()
    return list(csv.DictReader(io.StringIO(gzip.decompress(raw).decode("utf-8"))))


def _timeline(name: str, intents: int, seed: int) -> tuple[list[dict[str, str]], str, str]:
    """Contacts of ``intents`` random intents over 12 weeks; the spiking and the fixed intent."""
    rng = np.random.default_rng(seed)
    rows = [r for r in _rows(name) if r["intent"] != "oos"]
    names = sorted({r["intent"] for r in rows})
    chosen = [names[i] for i in rng.choice(len(names), intents, replace=False)]
    spiking, fixed = chosen[0], chosen[1]
    start = END - timedelta(days=7 * WEEKS - 1)
    out = []
    for n, row in enumerate(r for r in rows if r["intent"] in chosen):
        if row["intent"] == spiking:
            # Weekly rate r for 11 weeks and 3r in the last: a 3/14 chance of the last week.
            week = WEEKS - 1 if rng.random() < 3 / 14 else int(rng.integers(0, WEEKS - 1))
        elif row["intent"] == fixed:
            # Rate r before the fix and r/10 after it: 7r + 5r/10 = 7.5r contacts in all.
            after = rng.random() < 0.5 / 7.5
            week = int(rng.integers(FIX_WEEK, WEEKS)) if after else int(rng.integers(0, FIX_WEEK))
        else:
            week = int(rng.integers(0, WEEKS))
        day = start + timedelta(days=7 * week + int(rng.integers(0, 7)))
        at = datetime.combine(day, datetime.min.time(), tzinfo=UTC) + timedelta(
            seconds=int(rng.integers(0, 86_400))
        )
        out.append(
            {
                "id": f"{name}-{n}",
                "text": row["text"],
                "created_at": at.isoformat().replace("+00:00", "Z"),
                "customer_email": f"customer{int(rng.integers(0, 5000))}@example.com",
                "intent": row["intent"],
            }
        )
    return out, spiking, fixed


def _cli(tmp_path: Path, *args: str) -> str:
    db = f"sqlite:///{tmp_path / 'real.db'}"
    return run_rootline(*args, db=db, folder=tmp_path, embedder=None, timeout=900).stdout


def _memberships(tmp_path: Path) -> list[tuple[str, int]]:
    """(external id, theme id) of every themed contact."""
    import sqlalchemy as sa

    from rootline.clustering.models import ThemeMembership
    from rootline.db import make_engine
    from rootline.ingest.models import Interaction

    engine = make_engine(f"sqlite:///{tmp_path / 'real.db'}")
    with engine.connect() as conn:
        found = conn.execute(
            sa.select(Interaction.external_id, ThemeMembership.theme_id).join(
                ThemeMembership, ThemeMembership.interaction_id == Interaction.id
            )
        ).all()
    engine.dispose()
    return [(str(ext), int(tid)) for ext, tid in found]


def _majority_themes(tmp_path: Path, rows: list[dict[str, str]], intent: str) -> set[int]:
    """Themes holding at least a fifth of an intent's contacts."""
    ids = {r["id"] for r in rows if r["intent"] == intent}
    counts: dict[int, int] = {}
    for ext, tid in _memberships(tmp_path):
        if ext in ids:
            counts[tid] = counts.get(tid, 0) + 1
    return {t for t, c in counts.items() if c >= 0.2 * len(ids)}


def _purity(tmp_path: Path, rows: list[dict[str, str]], intent: str) -> dict[int, float]:
    """Share of each theme's members that are of the intent."""
    ids = {r["id"] for r in rows if r["intent"] == intent}
    size: dict[int, int] = {}
    mine: dict[int, int] = {}
    for ext, tid in _memberships(tmp_path):
        size[tid] = size.get(tid, 0) + 1
        mine[tid] = mine.get(tid, 0) + (ext in ids)
    return {t: mine[t] / size[t] for t in size}


def _themes_about(tmp_path: Path, rows: list[dict[str, str]], intent: str) -> list[int]:
    """Themes holding a fifth of the intent's contacts whose members are mostly that intent."""
    held = _majority_themes(tmp_path, rows, intent)
    purity = _purity(tmp_path, rows, intent)
    return sorted(t for t in held if purity.get(t, 0.0) > 0.5)


@pytest.mark.parametrize(("name", "intents", "seed"), [("hwu64", 20, 3), ("clinc150", 25, 5)])
def test_tripled_intent_is_the_top_alert_and_the_fix_is_verified(
    tmp_path: Path, name: str, intents: int, seed: int
) -> None:
    rows, spiking, fixed = _timeline(name, intents, seed)
    path = tmp_path / f"{name}.csv"
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=["id", "text", "created_at", "customer_email"])
        writer.writeheader()
        writer.writerows({k: r[k] for k in writer.fieldnames} for r in rows)
    _cli(tmp_path, "ingest", str(path), "--source", "helpdesk")
    _cli(tmp_path, "cluster", "--full")

    alerts = json.loads(_cli(tmp_path, "alerts", "--json", "--as-of", END.isoformat()))
    assert alerts, "the tripled intent raised no alert"
    top = alerts[0]
    flagged = {top["theme_id"], *top.get("members", [])}
    assert flagged & _majority_themes(tmp_path, rows, spiking), (spiking, top)

    fixed_themes = _themes_about(tmp_path, rows, fixed)
    if not fixed_themes:
        # The intent shares a theme with a larger one: a lead reading it sees two requests
        # and splits it, then promotes the parts that are about the fixed one.
        merged = max(_majority_themes(tmp_path, rows, fixed))
        _cli(tmp_path, "theme", "split", str(merged))
        fixed_themes = _themes_about(tmp_path, rows, fixed)
    assert fixed_themes, f"no theme is mostly {fixed}, even after a split"
    theme_args = [arg for t in fixed_themes for arg in ("--theme", str(t))]
    created = json.loads(_cli(tmp_path, "problems", "create", *theme_args, "--json"))
    fix_day = END - timedelta(days=7 * (WEEKS - FIX_WEEK) - 1)
    _cli(tmp_path, "problems", "fix", str(created["id"]), "--date", fix_day.isoformat())
    verdict = json.loads(
        _cli(
            tmp_path, "problems", "verify", str(created["id"]), "--json", "--as-of", END.isoformat()
        )
    )
    assert verdict["verdict"] == "verified", verdict
    assert verdict["after_rate"] < 0.5 * verdict["before_rate"]
