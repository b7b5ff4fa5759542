"""Triage at the moment of contact: which known theme a new contact belongs to, and what to do.

``triage`` takes the text of a contact that has just arrived (and, optionally, who sent it)
and answers in one call what an agent needs: the theme it belongs to with a confidence, or
none ("new": no theme yet); that theme's open problem with its state and owner teams; the
published workaround of its known error; the three most similar resolved contacts of the
theme; and the customer's recent contacts and the open problems of their themes.

The theme is chosen by the very rule the next incremental ``rootline cluster`` applies to the
text once it is ingested: cleaned as ingest cleans it (the subject line, when given, in front
as ingest puts it), less the boilerplate the last full run
found in the corpus, embedded with the model of that run, placed on the nearest centroid of a
placeable theme when at least as similar as that run's floor (``clustering.runs.assign_floor``),
a "not a theme" group counting as none.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import sqlalchemy as sa
from sqlalchemy.orm import Session

from rootline.clustering.embedding import Embedder, embed_with_cache
from rootline.clustering.models import ClusteringRun, Theme, ThemeMembership
from rootline.clustering.runs import PLACEABLE_STATUSES, assign_floor
from rootline.clustering.stats import last_full_run
from rootline.errors import InputError, NotFoundError, StateError
from rootline.ingest.boilerplate import Boilerplate
from rootline.ingest.identity import normalise_email
from rootline.ingest.models import Customer, CustomerIdentity, Interaction
from rootline.ingest.prepare import body_clean
from rootline.ingest.schemas import InteractionRecord
from rootline.rootcause.knowledge import known_errors_for_theme
from rootline.rootcause.service import open_problem_for_theme, team_name
from rootline.rootcause.states import CLOSED_STATES

__all__ = ["Triage", "triage", "triage_contact"]

#: Resolved contacts of the theme compared with the new one (the most recent): enough to find
#: close ones, few enough that reading their cached vectors stays a small part of a call.
_SIMILAR_POOL = 150
_SIMILAR = 3
_RECENT = 5
#: Texts as the last full run embedded them (its boilerplate removed), per run: a long-lived
#: web process triages many contacts of the same themes against the same run.
_EMBEDDED: dict[tuple[Any, ...], tuple[Boilerplate, dict[str, str]]] = {}
_EMBEDDED_MAX = 50_000


def _embedded_texts(run: ClusteringRun) -> tuple[Boilerplate, dict[str, str]]:
    """The run's boilerplate and its memo of texts already stripped of it."""
    listed = (run.params or {}).get("boilerplate")
    key = (run.id, tuple(map(str, listed or ())))
    found = _EMBEDDED.get(key)
    if found is None or len(found[1]) > _EMBEDDED_MAX:
        found = (Boilerplate.from_list(listed), {})
        _EMBEDDED.clear()  # one run at a time: the latest full run
        _EMBEDDED[key] = found
    return found


@dataclass
class Triage:
    """What an agent needs to know about a contact that has just arrived."""

    theme_id: int | None
    theme_title: str | None
    confidence: float
    floor: float
    problem: dict[str, Any] | None
    workaround: dict[str, Any] | None
    similar: list[dict[str, Any]] = field(default_factory=list)
    customer: dict[str, Any] | None = None
    #: "triage" (placed now, by the rule of the next incremental run) or "run" (the theme a
    #: clustering run or a person gave the stored contact).
    placed_by: str = "triage"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _problem(session: Session, theme_id: int) -> dict[str, Any] | None:
    problem = open_problem_for_theme(session, theme_id)
    if problem is None:
        return None
    return {
        "id": problem.id,
        "title": problem.title,
        "state": problem.state,
        "business_team": team_name(problem.business_team),
        "is_team": team_name(problem.is_team),
        "open": problem.state not in CLOSED_STATES,
    }


def _workaround(session: Session, theme_id: int) -> dict[str, Any] | None:
    for article in known_errors_for_theme(session, theme_id, public_only=True):
        if article.workaround.strip():
            return {"id": article.id, "title": article.title, "workaround": article.workaround}
    return None


def _similar(
    session: Session,
    embedder: Embedder,
    boilerplate: Boilerplate,
    theme_id: int,
    vector: np.ndarray,
    exclude: int | None = None,
    memo: dict[str, str] | None = None,
) -> list[dict[str, Any]]:
    """The theme's most similar resolved contacts (among its most recent resolved ones)."""
    rows = session.execute(
        sa.select(Interaction.id, Interaction.subject, Interaction.body_clean, Interaction.status)
        .join(ThemeMembership, ThemeMembership.interaction_id == Interaction.id)
        .where(
            ThemeMembership.theme_id == theme_id,
            Interaction.resolved_at.is_not(None),
            Interaction.body_clean != "",
            Interaction.id != (exclude or 0),
        )
        .order_by(Interaction.resolved_at.desc(), Interaction.id.desc())
        .limit(_SIMILAR_POOL)
    ).all()
    if not rows:
        return []
    memo = {} if memo is None else memo
    texts = []
    for r in rows:
        text = memo.get(r.body_clean)
        if text is None:
            text = memo[r.body_clean] = boilerplate.remove(r.body_clean)
        texts.append(text)
    vectors, _ = embed_with_cache(session, embedder, texts)
    sims = vectors @ vector
    best = np.argsort(-sims, kind="stable")[:_SIMILAR]
    return [
        {
            "interaction_id": int(rows[i].id),
            "similarity": round(float(sims[i]), 4),
            "text": rows[i].body_clean[:500],
            "status": rows[i].status,
        }
        for i in best
    ]


def _customer_of(session: Session, email: str) -> int | None:
    key = normalise_email(email)
    if key is None:
        raise InputError(f"not an e-mail address: {email[:80]!r}", field="customer_email")
    return session.scalar(
        sa.select(CustomerIdentity.customer_id).where(
            CustomerIdentity.kind == "email", CustomerIdentity.value == key
        )
    )


def _customer(session: Session, customer_id: int, exclude: int | None = None) -> dict[str, Any]:
    """The customer's recent contacts and the open problems of the themes they were in."""
    recent = session.execute(
        sa.select(
            Interaction.id, Interaction.created_at, Interaction.channel, Theme.id, Theme.title
        )
        .outerjoin(ThemeMembership, ThemeMembership.interaction_id == Interaction.id)
        .outerjoin(Theme, (Theme.id == ThemeMembership.theme_id) & (Theme.status == "active"))
        .where(Interaction.customer_id == customer_id, Interaction.id != (exclude or 0))
        .order_by(Interaction.created_at.desc(), Interaction.id.desc())
        .limit(_RECENT)
    ).all()
    problems: dict[int, dict[str, Any]] = {}
    for theme_id in dict.fromkeys(int(r[3]) for r in recent if r[3] is not None):
        if (found := _problem(session, theme_id)) and found["open"]:
            problems.setdefault(found["id"], found)
    who = session.execute(
        sa.select(Customer.kind, Customer.department).where(Customer.id == customer_id)
    ).first()
    return {
        "id": int(customer_id),
        "kind": who.kind if who else "external",
        "department": who.department if who else None,
        "recent": [
            {
                "interaction_id": int(r[0]),
                "created_at": r[1].isoformat() if r[1] else None,
                "channel": r[2],
                "theme_id": r[3],
                "theme_title": r[4],
            }
            for r in recent
        ],
        "open_problems": list(problems.values()),
    }


def _run_for(session: Session, embedder: Embedder) -> ClusteringRun:
    run = last_full_run(session)
    if run is None:
        raise StateError("no themes yet: run rootline cluster first")
    if run.model_slug != embedder.slug:
        raise StateError(
            f"the themes were built with {run.model_slug}, not {embedder.slug}: "
            "triage with the same model"
        )
    return run


def _nearest(session: Session, vector: np.ndarray, floor: float) -> tuple[Theme | None, float]:
    """The placeable theme whose centroid is nearest, if at least as similar as the floor."""
    themes = list(
        session.scalars(
            sa.select(Theme)
            .where(Theme.status.in_(PLACEABLE_STATUSES), Theme.centroid.is_not(None))
            .order_by(Theme.id)
        )
    )
    if not themes:
        return None, 0.0
    centroids = np.stack([np.frombuffer(t.centroid or b"", dtype=np.float32) for t in themes])
    sims = centroids @ vector
    best = int(np.argmax(sims))
    confidence = float(sims[best])
    if confidence >= floor and themes[best].status != "noise":
        return themes[best], confidence
    return None, confidence


def _answer(
    session: Session,
    embedder: Embedder,
    boilerplate: Boilerplate,
    chosen: Theme | None,
    confidence: float,
    floor: float,
    vector: np.ndarray,
    exclude: int | None = None,
    memo: dict[str, str] | None = None,
) -> Triage:
    return Triage(
        theme_id=chosen.id if chosen else None,
        theme_title=chosen.title if chosen else None,
        confidence=round(min(max(confidence, 0.0), 1.0), 4),
        floor=round(floor, 4),
        problem=_problem(session, chosen.id) if chosen else None,
        workaround=_workaround(session, chosen.id) if chosen else None,
        similar=(
            _similar(session, embedder, boilerplate, chosen.id, vector, exclude, memo)
            if chosen
            else []
        ),
    )


def triage(
    session: Session,
    embedder: Embedder,
    text: str,
    *,
    customer_email: str | None = None,
    redact: bool = True,
    subject: str | None = None,
) -> Triage:
    """Triage one new contact's text, and its subject line if it has one, read as ingest
    reads a record (see the module's docstring).

    Raises:
        InputError: the text has nothing of an issue left once cleaned, or the e-mail is not
            an address.
        StateError: there are no themes yet, or they were built with another model.
    """
    # Exactly what ingest stores as the clean text, which the next run embeds.
    cleaned = body_clean(InteractionRecord(external_id="", subject=subject, body=text), redact)
    if not cleaned:
        raise InputError("nothing to triage: the text is empty once cleaned", field="text")
    run = _run_for(session, embedder)
    floor = assign_floor(dict(run.params or {}))
    boilerplate, memo = _embedded_texts(run)
    vector = np.asarray(embedder.encode([boilerplate.remove(cleaned)])[0], dtype=np.float32)
    vector /= max(float(np.linalg.norm(vector)), 1e-12)
    chosen, confidence = _nearest(session, vector, floor)
    out = _answer(session, embedder, boilerplate, chosen, confidence, floor, vector, memo=memo)
    if customer_email and (customer_id := _customer_of(session, customer_email)) is not None:
        out.customer = _customer(session, customer_id)
    return out


def triage_contact(session: Session, embedder: Embedder, interaction_id: int) -> Triage:
    """The triage panel of a contact already stored: the theme a run (or a person) placed it
    in, with the membership's probability as the confidence; a contact no run has placed yet
    is triaged from its clean text as the next incremental run would place it. The contact
    itself is left out of the similar and the recent contacts.

    Raises:
        NotFoundError: no such contact.
        StateError: there are no themes yet, or they were built with another model.
    """
    contact = session.get(Interaction, interaction_id)
    if contact is None:
        raise NotFoundError(f"no contact {interaction_id}")
    run = _run_for(session, embedder)
    floor = assign_floor(dict(run.params or {}))
    boilerplate, memo = _embedded_texts(run)
    text = boilerplate.remove(contact.body_clean or contact.subject or "")
    vector = np.zeros(1, dtype=np.float32)
    if text.strip():
        vectors, _ = embed_with_cache(session, embedder, [text])
        vector = np.asarray(vectors[0], dtype=np.float32)
        vector /= max(float(np.linalg.norm(vector)), 1e-12)
    placed = session.execute(
        sa.select(Theme, ThemeMembership.probability)
        .join(ThemeMembership, ThemeMembership.theme_id == Theme.id)
        .where(ThemeMembership.interaction_id == contact.id)
    ).first()
    if placed is not None:
        theme, probability = placed
        chosen = theme if theme.status in ("active", "proposed") else None
        confidence = float(probability) if chosen else 0.0
        out = _answer(
            session, embedder, boilerplate, chosen, confidence, floor, vector, contact.id, memo
        )
        out.placed_by = "run"
    elif text.strip():
        chosen, confidence = _nearest(session, vector, floor)
        out = _answer(
            session, embedder, boilerplate, chosen, confidence, floor, vector, contact.id, memo
        )
    else:
        out = _answer(session, embedder, boilerplate, None, 0.0, floor, vector)
    if contact.customer_id is not None:
        out.customer = _customer(session, contact.customer_id, exclude=contact.id)
    return out
