"""An account owner's book: their customers, the themes and open problems touching them, and
the "guerrilla metrics" of the book over a window: value of customers gained and lost,
referrals, and moves up and down between value levels.

Customers belong to the owner named in the CRM file's ``account_owner`` column (matched
exactly, ignoring case). Events are the CRM's customer events (``rootline ingest`` of an
events file).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from rootline.clustering.models import ThemeMembership
from rootline.ingest.models import Customer, CustomerEvent, Interaction
from rootline.rootcause.breakdown import Breakdown, breakdown
from rootline.rootcause.models import Problem, ProblemTheme
from rootline.rootcause.states import OPEN_STATES

__all__ = [
    "DEFAULT_DAYS",
    "AccountBook",
    "BookProblem",
    "OwnerSummary",
    "account_book",
    "account_owners",
]

#: The window of a book when none is given: these many days up to the newest contact.
DEFAULT_DAYS = 90


def _aware(at: datetime) -> datetime:
    # SQLite hands back naive datetimes; they were stored as UTC.
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


@dataclass(frozen=True)
class OwnerSummary:
    """One account owner: how many customers they look after and their summed value."""

    owner: str
    customers: int
    value: float | None


@dataclass(frozen=True)
class BookProblem:
    """An open problem whose themes hold contacts of the book's customers."""

    id: int
    title: str
    state: str
    priority: str
    customers: int
    contacts: int


@dataclass
class AccountBook:
    """An owner's customers and what happened to them in the window."""

    owner: str
    since: datetime | None
    until: datetime | None
    customers: int
    book_value: float | None
    contacting_customers: int
    contacts: int
    gained_customers: int
    value_gained: float | None
    lost_customers: int
    value_lost: float | None
    referrals: int
    referral_value: float | None
    upgrades: int
    upgrade_value: float | None
    downgrades: int
    downgrade_value: float | None
    themes: Breakdown
    problems: list[BookProblem] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["since"] = self.since.isoformat() if self.since else None
        data["until"] = self.until.isoformat() if self.until else None
        data["themes"] = self.themes.as_dict()
        return data


def _owner_match(owner: str) -> Any:
    return sa.func.lower(Customer.account_owner) == owner.strip().lower()


def _live() -> Any:
    return Customer.merged_into_id.is_(None)


def account_owners(session: Session) -> list[OwnerSummary]:
    """Every account owner named on a customer, with the size and value of their book."""
    rows = session.execute(
        sa.select(Customer.account_owner, sa.func.count(), sa.func.sum(Customer.value))
        .where(Customer.account_owner.is_not(None), Customer.account_owner != "", _live())
        .group_by(Customer.account_owner)
        .order_by(Customer.account_owner)
    )
    return [
        OwnerSummary(str(o), int(n), round(float(v), 2) if v is not None else None)
        for o, n, v in rows
    ]


def _round(value: Any) -> float | None:
    return None if value is None else round(float(value), 2)


def account_book(
    session: Session,
    owner: str,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    costs: dict[str, float] | None = None,
) -> AccountBook | None:
    """The book of ``owner`` over contacts and events on or after ``since``, before ``until``
    (None: no customer names that owner).

    - gained: customers whose first order ever falls in the window, with their value;
    - lost: customers with a cancellation in the window, with their value;
    - referrals: referral events in the window and their summed amount;
    - upgrades, downgrades: such events in the window and their summed amount.

    Without ``since`` the window starts ``DEFAULT_DAYS`` days before ``until`` (or before the
    newest contact): over all time everyone would be "gained".
    """
    if since is None:
        end = until or session.scalar(sa.select(sa.func.max(Interaction.created_at)))
        if end is not None:
            since = _aware(end) - timedelta(days=DEFAULT_DAYS)
    book = (
        sa.select(Customer.id, Customer.value, Customer.account_owner)
        .where(_owner_match(owner), _live())
        .subquery("book")
    )
    n, value, name = session.execute(
        sa.select(sa.func.count(), sa.func.sum(book.c.value), sa.func.min(book.c.account_owner))
    ).one()
    if not n:
        return None

    def in_window(query: Any, column: Any) -> Any:
        if since is not None:
            query = query.where(column >= since)
        if until is not None:
            query = query.where(column < until)
        return query

    contacts, contacting = session.execute(
        in_window(
            sa.select(sa.func.count(), sa.func.count(sa.distinct(Interaction.customer_id))).join(
                book, book.c.id == Interaction.customer_id
            ),
            Interaction.created_at,
        )
    ).one()
    first_order = (
        sa.select(
            CustomerEvent.customer_id.label("cid"),
            sa.func.min(CustomerEvent.occurred_at).label("at"),
        )
        .where(CustomerEvent.kind == "order")
        .group_by(CustomerEvent.customer_id)
        .subquery("fo")
    )
    gained, gained_value = session.execute(
        in_window(
            sa.select(sa.func.count(), sa.func.sum(book.c.value)).join(
                first_order, first_order.c.cid == book.c.id
            ),
            first_order.c.at,
        )
    ).one()
    lost_ids = in_window(
        sa.select(CustomerEvent.customer_id.label("cid"))
        .where(CustomerEvent.kind == "cancellation")
        .distinct(),
        CustomerEvent.occurred_at,
    ).subquery("lost")
    lost, lost_value = session.execute(
        sa.select(sa.func.count(), sa.func.sum(book.c.value)).join(
            lost_ids, lost_ids.c.cid == book.c.id
        )
    ).one()
    kinds = {
        kind: (int(k), amount)
        for kind, k, amount in session.execute(
            in_window(
                sa.select(CustomerEvent.kind, sa.func.count(), sa.func.sum(CustomerEvent.amount))
                .join(book, book.c.id == CustomerEvent.customer_id)
                .where(CustomerEvent.kind.in_(("referral", "upgrade", "downgrade")))
                .group_by(CustomerEvent.kind),
                CustomerEvent.occurred_at,
            )
        )
    }
    themes = breakdown(
        session, "theme", since=since, until=until, costs=costs, account_owner=str(name)
    )
    touching = in_window(
        sa.select(
            Problem.id,
            Problem.title,
            Problem.state,
            Problem.priority,
            sa.func.count(sa.distinct(Interaction.customer_id)),
            sa.func.count(sa.distinct(Interaction.id)),
        )
        .join(ProblemTheme, ProblemTheme.problem_id == Problem.id)
        .join(ThemeMembership, ThemeMembership.theme_id == ProblemTheme.theme_id)
        .join(Interaction, Interaction.id == ThemeMembership.interaction_id)
        .join(book, book.c.id == Interaction.customer_id)
        .where(Problem.state.in_(sorted(OPEN_STATES)))
        .group_by(Problem.id, Problem.title, Problem.state, Problem.priority),
        Interaction.created_at,
    )
    problems = sorted(
        (
            BookProblem(int(i), t, s, p, int(c), int(k))
            for i, t, s, p, c, k in session.execute(touching)
        ),
        key=lambda b: (b.priority, -b.customers, b.id),
    )

    def kind(name: str) -> tuple[int, float | None]:
        count, amount = kinds.get(name, (0, None))
        return count, _round(amount)

    referrals, referral_value = kind("referral")
    upgrades, upgrade_value = kind("upgrade")
    downgrades, downgrade_value = kind("downgrade")
    return AccountBook(
        owner=str(name),
        since=since,
        until=until,
        customers=int(n),
        book_value=_round(value),
        contacting_customers=int(contacting or 0),
        contacts=int(contacts or 0),
        gained_customers=int(gained or 0),
        value_gained=_round(gained_value),
        lost_customers=int(lost or 0),
        value_lost=_round(lost_value),
        referrals=referrals,
        referral_value=referral_value,
        upgrades=upgrades,
        upgrade_value=upgrade_value,
        downgrades=downgrades,
        downgrade_value=downgrade_value,
        themes=themes,
        problems=problems,
    )
