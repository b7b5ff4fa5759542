"""The dashboard's list of themes: name filter, sort order, cards or table, and what an empty
list means. Shared by the page, its CSV and its JSON twin; the figures come from
:func:`rootline.web.views.ranked_themes`.

Filtering and sorting run on the cached ranked rows, not in SQL: the same cached figures
answer every sort and every filter, and a name filter is a plain substring test, so ``%`` and
``_`` in it match themselves.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Annotated
from urllib.parse import urlencode

import sqlalchemy as sa
from fastapi import Query
from sqlalchemy.orm import Session

from rootline.clustering.models import Theme
from rootline.web.paging import Pager
from rootline.web.queries import Dashboard, Filters, ThemeRow

__all__ = [
    "SORTS",
    "EmptyState",
    "Heading",
    "Listing",
    "ThemeList",
    "listed_rows",
    "theme_list",
    "theme_listing",
]

#: Sortable columns: query value -> (column heading, order a first click gives).
SORTS: dict[str, tuple[str, str]] = {
    "impact": ("Impact", "desc"),
    "size": ("Contacts", "desc"),
    "customers": ("Customers", "desc"),
    "trend": ("Trend", "desc"),
    "csat": ("CSAT", "asc"),  # the unhappiest first
    "value": ("Value at risk", "desc"),
    "newest": ("Newest contact", "desc"),
}
_STATUS_WORDS = {"active": "active", "proposed": "proposed", "noise": "“not a theme”"}


@dataclass(frozen=True)
class Listing:
    """How the dashboard lists its themes: a name filter and a sort order."""

    q: str = ""
    sort: str = "impact"
    order: str = "desc"

    def params(self) -> dict[str, str]:
        """The listing as query parameters, leaving out the defaults."""
        return {
            "q": self.q,
            "sort": "" if self.sort == "impact" else self.sort,
            "order": "" if self.order == SORTS[self.sort][1] else self.order,
        }


def theme_listing(
    q: Annotated[
        str, Query(max_length=200, description="Only themes whose title contains this.")
    ] = "",
    sort: Annotated[
        str, Query(pattern="^(" + "|".join(SORTS) + ")$", description="Column to sort by.")
    ] = "impact",
    order: Annotated[str, Query(pattern="^(|asc|desc)$", description="asc or desc.")] = "",
) -> Listing:
    """The listing from the query string (shared by the page and the API)."""
    return Listing(q.replace("\x00", "").strip(), sort, order or SORTS[sort][1])


def _key(row: ThemeRow, sort: str) -> float | datetime | None:
    impact = row.impact
    if sort == "impact":
        return impact.score
    if sort == "size":
        return impact.contacts
    if sort == "customers":
        return impact.unique_customers
    if sort == "trend":
        if impact.trend is not None:
            return impact.trend
        # No earlier weeks to compare with: new (steepest) if active now, else unknown.
        return math.inf if impact.recent_contacts else None
    if sort == "csat":
        return impact.mean_csat
    if sort == "value":
        return impact.value_at_risk
    return row.newest


def listed_rows(board: Dashboard, listing: Listing) -> list[ThemeRow]:
    """The board's rows whose title contains ``listing.q`` (ignoring case), in the listing's
    order; ties, and rows without the figure (listed last), keep their impact rank."""
    needle = listing.q.casefold()
    rows = [r for r in board.rows if needle in r.title.casefold()] if needle else board.rows
    keyed = [(_key(r, listing.sort), r) for r in rows]
    known = [(k, r) for k, r in keyed if k is not None]
    # sorted() stays stable with reverse=True: equal figures keep their impact order.
    known.sort(key=lambda kr: kr[0], reverse=listing.order == "desc")
    return [r for _, r in known] + [r for k, r in keyed if k is None]


@dataclass(frozen=True)
class Heading:
    """A sortable column heading: its link and whether the list is sorted by it."""

    key: str
    label: str
    url: str
    aria_sort: str  # "ascending", "descending" or "none"

    @property
    def short(self) -> str:
        """The label as a table heading has room for."""
        return "Newest" if self.key == "newest" else self.label

    @property
    def arrow(self) -> str:
        """▲ or ▼ on the column the list is sorted by."""
        return {"ascending": "▲", "descending": "▼"}.get(self.aria_sort, "")


@dataclass(frozen=True)
class EmptyState:
    """Why the list shows no theme, and where to go instead."""

    kind: str  # no_themes, status, filters, name or page
    text: str
    link_text: str = ""
    link_url: str = ""


@dataclass
class ThemeList:
    """What the dashboard shows of its list: one page of rows and how to move around it."""

    view: str
    listing: Listing
    rows: list[ThemeRow]
    matched: int
    ranks: dict[int, int]
    pager: Pager
    headings: dict[str, Heading]
    view_urls: dict[str, str]
    csv_url: str
    empty: EmptyState | None
    hidden: dict[str, str] = field(default_factory=dict)

    @property
    def heading(self) -> str:
        """What the list is ordered by, in words: "Themes by impact", "Themes by CSAT, lowest
        first"."""
        label, first = SORTS[self.listing.sort]
        words = "Themes by " + (label if label == "CSAT" else label.lower())
        if self.listing.order != first or self.listing.sort == "csat":
            low, high = (
                ("oldest", "newest") if self.listing.sort == "newest" else ("lowest", "highest")
            )
            words += f", {low if self.listing.order == 'asc' else high} first"
        return words


def _url(params: dict[str, str]) -> str:
    query = {k: v for k, v in params.items() if v}
    return "/themes?" + urlencode(query) if query else "/themes"


def _empty_state(
    session: Session,
    board: Dashboard,
    filters: Filters,
    listing: Listing,
    pager: Pager,
    base: dict[str, str],
) -> EmptyState | None:
    """Say what is really empty: no theme at all, none of this status, none under the
    filters, none matching the name, or a page past the last."""
    if pager.total and pager.offset < pager.total:
        return None
    if not board.rows:
        if session.scalar(sa.select(Theme.id).limit(1)) is None:
            return EmptyState("no_themes", "No themes yet.")
        status = _STATUS_WORDS.get(filters.status, filters.status)
        if filters.narrowed:
            return EmptyState(
                "filters",
                f"No {status} theme has contacts within these filters.",
                "Clear the filters",
                _url({"status": base.get("status", ""), "view": base.get("view", "")}),
            )
        if filters.status == "active":
            return EmptyState(
                "status",
                "No active themes.",
                "Show proposed themes",
                _url(base | {"status": "proposed"}),
            )
        return EmptyState(
            "status", f"No {status} themes.", "Show active themes", _url(base | {"status": ""})
        )
    if not pager.total:
        return EmptyState(
            "name", f"No theme matches “{listing.q}”.", "Show every theme", _url(base | {"q": ""})
        )
    return EmptyState(
        "page",
        f"Page {pager.number} is past the last theme: there "
        f"{'is 1 theme' if pager.total == 1 else f'are {pager.total} themes'}, on "
        f"{'1 page' if pager.last == 1 else f'{pager.last} pages'}.",
        "Go to the last page",
        pager.url(pager.last),
    )


def theme_list(
    session: Session,
    board: Dashboard,
    filters: Filters,
    listing: Listing,
    *,
    view: str,
    page: int,
    per_page: int,
) -> ThemeList:
    """One page of the dashboard's list, with its sort links, view toggle and empty state."""
    rows = listed_rows(board, listing)
    base = filters.params() | listing.params() | {"view": "" if view == "cards" else view}
    pager = Pager(number=page, size=per_page, total=len(rows), path="/themes", params=base)
    headings = {}
    for key, (label, first) in SORTS.items():
        active = listing.sort == key
        order = ("asc" if listing.order == "desc" else "desc") if active else first
        target = replace(listing, sort=key, order=order)
        headings[key] = Heading(
            key,
            label,
            _url(base | target.params()),
            ("ascending" if listing.order == "asc" else "descending") if active else "none",
        )
    page_params = base | ({"page": str(page)} if page > 1 else {})
    return ThemeList(
        view=view,
        listing=listing,
        rows=rows[pager.offset : pager.offset + per_page],
        matched=len(rows),
        ranks={r.id: i for i, r in enumerate(board.rows, start=1)},
        pager=pager,
        headings=headings,
        view_urls={
            v: _url(page_params | {"view": "" if v == "cards" else v}) for v in ("cards", "table")
        },
        csv_url=_url(base | {"view": "", "format": "csv"}),
        empty=_empty_state(session, board, filters, listing, pager, base),
        # What the filter form carries along besides its own fields.
        hidden={
            k: v for k, v in (listing.params() | {"view": base["view"]}).items() if v and k != "q"
        },
    )
