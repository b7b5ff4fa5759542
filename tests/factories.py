"""Row factories and synthetic support texts for tests."""

from __future__ import annotations

import csv
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import factory
import sqlalchemy as sa
from sqlalchemy.orm import Session

from rootline.clustering.models import Theme, ThemeMembership
from rootline.ingest.models import Customer, Interaction

# Each theme: words customers use about one issue. Texts mix them with shared filler, so
# a bag-of-words embedder separates themes the way a sentence model would.
THEME_WORDS: dict[str, list[str]] = {
    "password_reset": [
        "password",
        "reset",
        "link",
        "email",
        "expired",
        "login",
        "never",
        "arrives",
    ],
    "card_declined": [
        "card",
        "declined",
        "payment",
        "visa",
        "checkout",
        "rejected",
        "bank",
        "charge",
    ],
    "late_delivery": [
        "delivery",
        "parcel",
        "late",
        "courier",
        "tracking",
        "shipped",
        "arrive",
        "week",
    ],
    "refund_missing": ["refund", "returned", "money", "back", "credited", "return", "days", "item"],
    "app_crash": ["app", "crashes", "open", "android", "iphone", "update", "freezes", "screen"],
    "promo_code": ["promo", "code", "discount", "voucher", "invalid", "coupon", "apply", "sale"],
}
FILLER = [
    "hi",
    "please",
    "help",
    "my",
    "the",
    "is",
    "not",
    "working",
    "again",
    "today",
    "why",
    "can",
    "you",
    "check",
    "i",
    "have",
    "a",
    "problem",
    "with",
    "thanks",
]


def themed_texts(
    per_theme: int = 30, seed: int = 0, themes: list[str] | None = None
) -> list[tuple[str, str]]:
    """(text, theme) pairs: each text draws 4-6 theme words and 3-6 filler words."""
    rng = random.Random(seed)
    out = []
    for theme in themes or list(THEME_WORDS):
        words = THEME_WORDS[theme]
        for _ in range(per_theme):
            picked = rng.sample(words, rng.randint(4, 6)) + rng.sample(FILLER, rng.randint(3, 6))
            rng.shuffle(picked)
            out.append((" ".join(picked), theme))
    rng.shuffle(out)
    return out


def write_csv(path: Path, rows: list[dict[str, object]]) -> Path:
    """Write dict rows to a CSV file with a header from the first row."""
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def themed_csv(path: Path, per_theme: int = 30, seed: int = 0) -> Path:
    """A help-desk CSV with an ``intent`` gold column, as a user would export it."""
    start = datetime(2026, 9, 1, tzinfo=UTC)
    rows = []
    for i, (text, theme) in enumerate(themed_texts(per_theme, seed)):
        rows.append(
            {
                "ticket_id": f"T{i:05d}",
                "description": text,
                "requester": f"user{i % 40}@example.com",
                "created_at": (start + timedelta(hours=7 * i)).isoformat(),
                "csat": str(1 + i % 5),
                "intent": theme,
            }
        )
    return write_csv(path, rows)


class CustomerFactory(factory.alchemy.SQLAlchemyModelFactory):
    class Meta:
        model = Customer
        sqlalchemy_session_persistence = "flush"

    name = factory.Sequence(lambda n: f"Customer {n}")
    segment = "consumer"
    value = 100.0


class InteractionFactory(factory.alchemy.SQLAlchemyModelFactory):
    class Meta:
        model = Interaction
        sqlalchemy_session_persistence = "flush"

    source = "test"
    external_id = factory.Sequence(lambda n: f"X{n}")
    channel = "email"
    body_raw = factory.LazyAttribute(lambda o: o.body_clean)
    body_clean = "my order never arrived"
    created_at = factory.Sequence(lambda n: datetime(2026, 10, 1, tzinfo=UTC) + timedelta(hours=n))
    content_hash = factory.Sequence(lambda n: f"{n:064d}")
    tags: list[str] = []
    extra: dict[str, object] = {}


# --- root-cause workflow -------------------------------------------------------------------


class ThemeFactory(factory.alchemy.SQLAlchemyModelFactory):
    class Meta:
        model = Theme
        sqlalchemy_session_persistence = "flush"

    title = factory.Sequence(lambda n: f"Theme {n}")
    keywords: list[str] = []
    status = "active"
    size = 0


def add_timeline(
    session: Session,
    theme: Theme | None,
    *,
    start: datetime,
    days: int,
    per_day: float,
    change_day: int | None = None,
    factor_after: float = 1.0,
    channel: str = "email",
    extra: dict[str, object] | None = None,
    customer_ids: list[int] | None = None,
    tag: str = "t",
) -> int:
    """Add ``per_day`` interactions a day (fractions carry over, so counts are exact and even)
    for ``days`` days from ``start``; from ``change_day`` on the rate is multiplied by
    ``factor_after``. When ``theme`` is given they become its members. Returns the count."""
    rows = []
    carry = 0.0
    for day in range(days):
        rate = per_day * (factor_after if change_day is not None and day >= change_day else 1.0)
        carry += rate
        count = int(carry + 1e-9)
        carry -= count
        for k in range(count):
            n = len(rows)
            rows.append(
                {
                    "source": "timeline",
                    "external_id": f"{tag}-{n}",
                    "channel": channel,
                    "body_raw": "x",
                    "body_clean": "x",
                    "content_hash": f"{tag}-{n}",
                    "created_at": start
                    + timedelta(days=day, minutes=1 + k * 1440 // max(count, 1)),
                    "extra": extra or {},
                    "tags": [],
                    "customer_id": customer_ids[n % len(customer_ids)] if customer_ids else None,
                }
            )
    if not rows:
        return 0
    ids = session.scalars(sa.insert(Interaction).returning(Interaction.id), rows).all()
    if theme is not None:
        session.execute(
            sa.insert(ThemeMembership), [{"interaction_id": i, "theme_id": theme.id} for i in ids]
        )
    session.flush()
    return len(rows)


def load_themed(
    session,
    per_theme: int = 30,
    seed: int = 0,
    prefix: str = "X",  # type: ignore[no-untyped-def]
    themes: list[str] | None = None,
) -> list[Interaction]:
    """Insert ``themed_texts`` as interactions with the gold theme in ``extra["intent"]``."""
    InteractionFactory._meta.sqlalchemy_session = session
    return [
        InteractionFactory(external_id=f"{prefix}{i}", body_clean=text, extra={"intent": theme})
        for i, (text, theme) in enumerate(themed_texts(per_theme, seed, themes))
    ]


def timeline_texts(
    seed: int = 0,
    weeks: int = 12,
    spike: str | None = "password_reset",
    factor: float = 3.0,
    end: datetime | None = None,
    rates: dict[str, float] | None = None,
) -> list[tuple[str, str, datetime]]:
    """(text, theme, created_at) over ``weeks`` weeks ending the day before ``end``.

    Each theme's weekly volume is Poisson around its rate (default 12-30 a week); the
    ``spike`` theme's rate is multiplied by ``factor`` in the last week only.
    """
    import numpy as np

    rng = np.random.default_rng(seed)
    end = end or datetime(2026, 12, 1, tzinfo=UTC)
    rates = rates or dict(zip(THEME_WORDS, [15.0, 20.0, 12.0, 25.0, 18.0, 30.0], strict=True))
    words_rng = random.Random(seed)
    out = []
    for theme, rate in rates.items():
        for day in range(7 * weeks):
            at = end - timedelta(days=7 * weeks - day)
            boost = factor if theme == spike and day >= 7 * (weeks - 1) else 1.0
            for _ in range(rng.poisson(rate * boost / 7)):
                words = THEME_WORDS[theme]
                picked = words_rng.sample(words, words_rng.randint(4, 6)) + words_rng.sample(
                    FILLER, words_rng.randint(3, 6)
                )
                words_rng.shuffle(picked)
                minute = int(rng.integers(0, 24 * 60))
                out.append((" ".join(picked), theme, at + timedelta(minutes=minute)))
    return out
