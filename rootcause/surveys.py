"""Short post-contact surveys: loading the answers, and ranking where customers are served
best and worst.

A survey file is a CSV with one answer per row: ``source`` and ``external_id`` of the
interaction it is about, ``question`` ("satisfied", "come_back", "recommend" ...), ``answer``
(yes/no, or a number), ``scale`` (the best answer of a numeric scale: 5 for 1-5, 10 for 0-10;
yes/no needs none) and optionally ``responded_at``. An answer is top-box when it is the best
the scale has: yes, 5 of 5. Answers on a 0-10 scale are read as recommendation (NPS) and kept
out of the top-box rate.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from rootline.errors import InputError
from rootline.ingest.convert import parse_datetime
from rootline.ingest.models import Interaction
from rootline.rootcause.breakdown import breakdown
from rootline.rootcause.models import SurveyResponse

__all__ = [
    "QualityRank",
    "SurveyLoad",
    "import_surveys",
    "read_survey_csv",
    "service_quality",
    "wilson_interval",
]

_YES = {"yes", "y", "true", "1", "ja", "oui"}
_NO = {"no", "n", "false", "0", "nein", "non"}
_NEEDED = ("source", "external_id", "question", "answer")


@dataclass
class SurveyLoad:
    """What a survey load did."""

    read: int = 0
    inserted: int = 0
    updated: int = 0
    unmatched: int = 0
    unmatched_lines: list[int] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def read_survey_csv(path: Path) -> Iterator[tuple[int, dict[str, str]]]:
    """(line number, row) of a survey CSV, header names lower-cased.

    Raises:
        InputError: the file lacks a needed column.
    """
    with path.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        header = [h.strip().lower() for h in reader.fieldnames or []]
        missing = [c for c in _NEEDED if c not in header]
        if missing:
            raise InputError(f"{path}: line 1: missing column(s) {', '.join(missing)}")
        reader.fieldnames = header
        for row in reader:
            yield reader.line_num, {k: (v or "").strip() for k, v in row.items() if k}


def _score(line: str, row: Mapping[str, str]) -> tuple[float, float]:
    answer, scale = row.get("answer", ""), row.get("scale", "")
    word = answer.lower()
    if not scale and word in _YES | _NO:
        return (1.0 if word in _YES else 0.0), 1.0
    try:
        value = float(answer)
    except ValueError:
        raise InputError(f"{line}, field 'answer': not yes/no or a number: {answer!r}") from None
    if not scale:
        raise InputError(f"{line}, field 'scale': a numeric answer needs its scale's best value")
    try:
        best = float(scale)
    except ValueError:
        raise InputError(f"{line}, field 'scale': not a number: {scale!r}") from None
    if not (math.isfinite(value) and math.isfinite(best)) or best <= 0 or not 0 <= value <= best:
        raise InputError(f"{line}, field 'answer': {answer} is not on a scale of 0-{scale}")
    return value, best


def import_surveys(
    session: Session, rows: Iterable[tuple[int, Mapping[str, str]]], *, name: str = "surveys"
) -> SurveyLoad:
    """Store survey answers, one per interaction and question (a later answer replaces an
    earlier one). Rows naming no known interaction are counted, not stored.

    Args:
        session: database session; the caller commits.
        rows: (line number, row) pairs, as ``read_survey_csv`` gives them.
        name: the file's name, for messages.

    Raises:
        InputError: a row's answer, scale or date cannot be read (nothing is stored).
    """
    load = SurveyLoad()
    parsed = []
    for number, row in rows:
        line = f"{name}: line {number}"
        load.read += 1
        for needed in _NEEDED:
            if not row.get(needed):
                raise InputError(f"{line}, field {needed!r}: empty")
        score, scale = _score(line, row)
        when: datetime | None = None
        if row.get("responded_at"):
            try:
                when = parse_datetime(row["responded_at"])
            except ValueError as exc:
                raise InputError(f"{line}, field 'responded_at': {exc}") from None
        question = row["question"].lower()[:64]
        parsed.append((number, (row["source"], row["external_id"]), question, score, scale, when))
    keys = {p[1] for p in parsed}
    ids: dict[tuple[str, str], int] = {}
    key_list = list(keys)
    for start in range(0, len(key_list), 500):
        chunk = key_list[start : start + 500]
        for iid, source, ext in session.execute(
            sa.select(Interaction.id, Interaction.source, Interaction.external_id).where(
                sa.tuple_(Interaction.source, Interaction.external_id).in_(chunk)
            )
        ):
            ids[(source, ext)] = iid
    existing = {
        (r.interaction_id, r.question): r
        for r in session.scalars(
            sa.select(SurveyResponse).where(SurveyResponse.interaction_id.in_(set(ids.values())))
        )
    }
    for number, key, question, score, scale, when in parsed:
        iid = ids.get(key)
        if iid is None:
            load.unmatched += 1
            if len(load.unmatched_lines) < 20:
                load.unmatched_lines.append(number)
            continue
        answer = existing.get((iid, question))
        if answer is None:
            answer = SurveyResponse(interaction_id=iid, question=question, source="survey")
            session.add(answer)
            existing[(iid, question)] = answer
            load.inserted += 1
        else:
            load.updated += 1
        answer.score, answer.scale_max, answer.responded_at = score, scale, when
    session.flush()
    return load


def wilson_interval(successes: int, n: int, z: float = 1.96) -> tuple[float, float] | None:
    """The Wilson score interval of a proportion (95% by default); None without answers."""
    if n <= 0:
        return None
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass(frozen=True)
class QualityRank:
    """One team, region or branch: its top-box satisfaction and contact rate, ranked."""

    key: str | None
    label: str
    contacts: int
    unique_customers: int
    contacts_per_customer: float | None
    top_box_answers: int
    top_box_rate: float | None
    top_box_low: float | None
    top_box_high: float | None
    nps: float | None
    satisfaction_rank: int | None
    contact_rate_rank: int | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def service_quality(
    session: Session,
    by: str,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    min_answers: int = 1,
) -> list[QualityRank]:
    """Teams, regions or branches (any dimension of ``breakdown``) ranked by top-box
    satisfaction and, separately, by contacts per customer (fewer is better).

    The satisfaction rank orders by the lower end of the 95% Wilson interval of the top-box
    rate, so a branch with 2 of 2 does not outrank one with 95 of 100; groups with fewer than
    ``min_answers`` answers get no satisfaction rank. The list is in satisfaction order,
    unranked groups last.
    """
    groups = breakdown(session, by, since=since, until=until).groups
    rows = []
    for g in groups:
        n = g.top_box_answers
        top = round((g.top_box_rate or 0.0) * n)
        interval = wilson_interval(top, n) if n >= min_answers else None
        rows.append((g, interval))
    by_sat = sorted(
        (r for r in rows if r[1] is not None),
        key=lambda r: (-r[1][0] if r[1] else 0.0, r[0].label),
    )
    sat_rank = {id(g): i for i, (g, _) in enumerate(by_sat, start=1)}
    by_rate = sorted(
        (g for g, _ in rows if g.contacts_per_customer is not None),
        key=lambda g: (g.contacts_per_customer or 0.0, g.label),
    )
    rate_rank = {id(g): i for i, g in enumerate(by_rate, start=1)}
    out = [
        QualityRank(
            key=g.key,
            label=g.label,
            contacts=g.contacts,
            unique_customers=g.unique_customers,
            contacts_per_customer=g.contacts_per_customer,
            top_box_answers=g.top_box_answers,
            top_box_rate=g.top_box_rate,
            top_box_low=round(iv[0], 4) if iv else None,
            top_box_high=round(iv[1], 4) if iv else None,
            nps=g.nps,
            satisfaction_rank=sat_rank.get(id(g)),
            contact_rate_rank=rate_rank.get(id(g)),
        )
        for g, iv in rows
    ]
    return sorted(
        out, key=lambda r: (r.satisfaction_rank is None, r.satisfaction_rank or 0, r.label)
    )
