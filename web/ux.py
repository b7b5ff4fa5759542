"""Themes a product owner may want as UX improvements, before anyone has tagged a problem.

A candidate is an active theme with no open problem whose contacts come mostly through the
web or the app, or whose title and keywords speak of pages, buttons, screens and errors.
Candidates are ranked by the dashboard's impact score (the same cached figures and window),
and each says why it was picked.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from rootline.clustering.models import Theme, ThemeMembership
from rootline.ingest.models import Interaction
from rootline.web.queries import Dashboard, ThemeRow

__all__ = ["UX_CHANNELS", "UX_WORDS", "UxCandidate", "ux_candidates"]

#: Channels a customer uses the product itself through.
UX_CHANNELS = frozenset({"web", "app", "mobile", "website", "in-app", "portal", "web form"})
#: Words of titles and keywords that point at the product's pages and screens.
UX_WORDS = frozenset(
    {
        "app", "button", "click", "screen", "page", "website", "site", "browser", "mobile",
        "login", "log", "error", "form", "field", "menu", "link", "load", "loading", "crash",
        "crashes", "freeze", "freezes", "upload", "display", "checkout", "basket", "cart",
        "search", "filter", "password", "captcha", "slow", "blank", "404", "500",
    }
)  # fmt: skip
#: Share of a theme's contacts through UX channels that makes it a candidate on its own.
CHANNEL_SHARE = 0.5


@dataclass(frozen=True)
class UxCandidate:
    """A theme that looks like a UX problem, its figures and why it was picked."""

    row: ThemeRow
    rank: int
    channel_share: float
    words: list[str]

    @property
    def reasons(self) -> list[str]:
        """Why the theme is a candidate, in words."""
        out = []
        if self.channel_share >= CHANNEL_SHARE:
            out.append(f"{self.channel_share:.0%} of its contacts come through the web or the app")
        if self.words:
            out.append("its title and keywords speak of " + ", ".join(self.words))
        return out


def _channel_shares(session: Session, theme_ids: list[int]) -> dict[int, float]:
    """Each theme's share of contacts through a UX channel, in one grouped query."""
    if not theme_ids:
        return {}
    totals: dict[int, int] = defaultdict(int)
    ux: dict[int, int] = defaultdict(int)
    rows = session.execute(
        sa.select(ThemeMembership.theme_id, sa.func.lower(Interaction.channel), sa.func.count())
        .join(Interaction, Interaction.id == ThemeMembership.interaction_id)
        .where(ThemeMembership.theme_id.in_(theme_ids))
        .group_by(ThemeMembership.theme_id, sa.func.lower(Interaction.channel))
    )
    for theme_id, channel, count in rows:
        totals[theme_id] += int(count)
        if (channel or "") in UX_CHANNELS:
            ux[theme_id] += int(count)
    return {t: ux[t] / n for t, n in totals.items() if n}


def _words(row: ThemeRow) -> list[str]:
    seen: list[str] = []
    for text in [row.title, *row.keywords]:
        for word in text.lower().replace("-", " ").split():
            word = word.strip(".,:;!?()'\"")
            if word in UX_WORDS and word not in seen:
                seen.append(word)
    return seen[:5]


def ux_candidates(
    session: Session, board: Dashboard, problem_theme_ids: set[int], limit: int = 10
) -> list[UxCandidate]:
    """The ``limit`` highest-impact active themes that look like UX problems and have no open
    problem (``problem_theme_ids``: themes that have one)."""
    rows = [r for r in board.rows if r.status == "active" and r.id not in problem_theme_ids]
    if not rows:
        return []
    # Themes that are still active (the cached board may be a moment old).
    live = set(
        session.scalars(
            sa.select(Theme.id).where(Theme.id.in_([r.id for r in rows]), Theme.status == "active")
        )
    )
    shares = _channel_shares(session, [r.id for r in rows if r.id in live])
    ranks = {r.id: i for i, r in enumerate(board.rows, start=1)}
    out = []
    for row in rows:
        if row.id not in live:
            continue
        share, words = shares.get(row.id, 0.0), _words(row)
        if share >= CHANNEL_SHARE or words:
            out.append(UxCandidate(row, ranks[row.id], share, words))
        if len(out) == limit:
            break
    return out
