"""The bundled demo data: reproducible, and telling the story the demo shows."""

from __future__ import annotations

import csv
import importlib.util
import sys
from collections import Counter, defaultdict
from datetime import date, datetime, timedelta
from pathlib import Path
from types import ModuleType

import pytest

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def _load_generator() -> ModuleType:
    # By file path, so the test does not depend on how the package is installed.
    spec = importlib.util.spec_from_file_location("_demo_generator", FIXTURES / "generate_demo.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look the module up while building classes
    spec.loader.exec_module(module)
    return module


gen = _load_generator()


def _read(name: str) -> list[dict[str, str]]:
    with (FIXTURES / name).open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def contacts() -> list[tuple[str, str, str, date, str]]:
    """(source, customer key, theme, day, body) for every interaction of both sources."""
    gold = {(r["source"], r["external_id"]): r["theme"] for r in _read("demo_gold.csv")}
    crm = _read("demo_customers.csv")
    by_email = {r["email"]: r["customer_id"] for r in crm}
    by_phone = {r["phone"]: r["customer_id"] for r in crm if r["phone"]}
    out = []
    for r in _read("demo_helpdesk.csv"):
        day = datetime.strptime(r["created_at"], "%Y-%m-%dT%H:%M:%SZ").date()
        out.append(
            (
                "helpdesk",
                by_email[r["requester_email"].lower()],
                gold["helpdesk", r["ticket_id"]],
                day,
                r["description"],
            )
        )
    for r in _read("demo_contact_center.csv"):
        day = datetime.strptime(r["timestamp"], "%d/%m/%Y %H:%M").date()
        key = r["account_number"] or by_email.get(r["email"]) or by_phone.get(r["phone_number"])
        assert key, f"{r['interaction_id']} cannot be tied to a customer"
        out.append(
            ("contact_center", key, gold["contact_center", r["interaction_id"]], day, r["notes"])
        )
    return out


def _weekly(
    rows: list[tuple[str, str, str, date, str]], theme: str, first: date, last: date
) -> float:
    n = sum(1 for _, _, t, day, _ in rows if t == theme and first <= day <= last)
    return n / (((last - first).days + 1) / 7)


def test_regenerating_gives_byte_identical_files(tmp_path: Path) -> None:
    counts = gen.generate(tmp_path)
    assert set(counts) == set(gen.FILES)
    for name in gen.FILES:
        assert (tmp_path / name).read_bytes() == (FIXTURES / name).read_bytes(), name


def test_row_counts_and_size() -> None:
    helpdesk, center = _read("demo_helpdesk.csv"), _read("demo_contact_center.csv")
    assert 3000 <= len(helpdesk) + len(center) <= 4000
    assert min(len(helpdesk), len(center)) >= 1000
    assert len(_read("demo_customers.csv")) == gen.N_CUSTOMERS
    assert len(_read("demo_gold.csv")) == len(helpdesk) + len(center)
    assert sum((FIXTURES / name).stat().st_size for name in gen.FILES) < 2_000_000


def test_themes_noise_and_channels(contacts: list[tuple[str, str, str, date, str]]) -> None:
    themes = Counter(t for _, _, t, _, _ in contacts)
    assert 20 <= len(themes) - 1 <= 30
    assert 0.05 <= themes["noise"] / len(contacts) <= 0.08
    assert {r["channel"] for r in _read("demo_helpdesk.csv")} == {"e-mail", "web form"}
    assert {r["contact_channel"] for r in _read("demo_contact_center.csv")} == {"voice", "chat"}
    days = [day for *_, day, _ in contacts]
    assert min(days) == gen.START and max(days) == gen.END


def test_spike_theme_triples_in_the_last_two_weeks(
    contacts: list[tuple[str, str, str, date, str]],
) -> None:
    recent_start = gen.END - timedelta(days=13)
    recent = _weekly(contacts, gen.SPIKE_THEME, recent_start, gen.END)
    earlier = _weekly(contacts, gen.SPIKE_THEME, gen.START, recent_start - timedelta(days=1))
    assert recent >= 2.5 * earlier


def test_fixed_theme_drops_after_the_fix(contacts: list[tuple[str, str, str, date, str]]) -> None:
    before = _weekly(contacts, gen.FIXED_THEME, gen.START, gen.FIX_DATE - timedelta(days=1))
    after = _weekly(contacts, gen.FIXED_THEME, gen.FIX_DATE, gen.END)
    assert before >= 10
    assert after <= 0.2 * before


def test_new_theme_only_in_the_last_days(contacts: list[tuple[str, str, str, date, str]]) -> None:
    days = [day for _, _, t, day, _ in contacts if t == gen.NEW_THEME]
    assert len(days) >= 40
    assert min(days) >= gen.NEW_START >= gen.END - timedelta(days=10)


def test_both_sources_share_customers(contacts: list[tuple[str, str, str, date, str]]) -> None:
    by_source: dict[str, set[str]] = defaultdict(set)
    for source, customer, *_ in contacts:
        by_source[source].add(customer)
    shared = by_source["helpdesk"] & by_source["contact_center"]
    assert len(shared) >= 0.2 * len(by_source["helpdesk"] | by_source["contact_center"])


def test_shared_customers_match_without_the_crm() -> None:
    """Chat e-mails and caller ids repeat the helpdesk's e-mails and phones."""
    helpdesk_keys = {r["requester_email"].lower() for r in _read("demo_helpdesk.csv")}
    helpdesk_keys |= {r["phone"].replace(" ", "") for r in _read("demo_helpdesk.csv") if r["phone"]}
    center = _read("demo_contact_center.csv")
    matched = {
        r["email"] or r["phone_number"]
        for r in center
        if r["email"] in helpdesk_keys or r["phone_number"] in helpdesk_keys
    }
    assert len(matched) >= 100


def test_repeat_contacts_and_enterprise_theme(
    contacts: list[tuple[str, str, str, date, str]],
) -> None:
    episodes = Counter((customer, t) for _, customer, t, _, _ in contacts if t != "noise")
    assert sum(1 for n in episodes.values() if n >= 2) >= 150
    segment = {r["customer_id"]: r["segment"] for r in _read("demo_customers.csv")}
    overall = Counter(segment[c] for _, c, *_ in contacts)
    invoice = Counter(segment[c] for _, c, t, _, _ in contacts if t == gen.ENTERPRISE_THEME)
    share = invoice["enterprise"] / sum(invoice.values())
    assert share >= 3 * overall["enterprise"] / sum(overall.values())


def test_bodies_vary_within_every_theme(contacts: list[tuple[str, str, str, date, str]]) -> None:
    bodies: dict[str, list[str]] = defaultdict(list)
    for _, _, theme, _, body in contacts:
        bodies[theme].append(body)
    for theme, texts in bodies.items():
        assert len(set(texts)) / len(texts) > 0.8, theme
    for theme in gen.THEMES:
        # Themes that borrow CLINC150 utterances need fewer phrasings of their own.
        assert len(theme.phrases) >= (8 if theme.clinc else 15), theme.key


def test_agent_category_is_mostly_right() -> None:
    gold = {
        r["external_id"]: r["theme"] for r in _read("demo_gold.csv") if r["source"] == "helpdesk"
    }
    label = {t.key: t.label for t in gen.THEMES}
    rows = [r for r in _read("demo_helpdesk.csv") if gold[r["ticket_id"]] != "noise"]
    right = sum(1 for r in rows if r["category"] == label[gold[r["ticket_id"]]])
    assert 0.75 <= right / len(rows) <= 0.85


def test_columns_are_recognised_by_ingest() -> None:
    from rootline.ingest.columns import detect_columns

    for name, expected in (
        (
            "demo_helpdesk.csv",
            {
                "ticket_id": "external_id",
                "description": "body",
                "requester_email": "customer_email",
                "created_at": "created_at",
                "csat": "csat",
                "tier": "segment",
                "phone": "customer_phone",
                "account_value": "customer_value",
                "category": "extra.category",
                "product": "extra.product",
            },
        ),
        (
            "demo_contact_center.csv",
            {
                "interaction_id": "external_id",
                "notes": "body",
                "timestamp": "created_at",
                "email": "customer_email",
                "phone_number": "customer_phone",
                "account_number": "account_id",
                "satisfaction": "csat",
                "contact_channel": "channel",
                "segment": "segment",
                "value": "customer_value",
                "queue": "extra.queue",
            },
        ),
    ):
        with (FIXTURES / name).open(encoding="utf-8", newline="") as fh:
            header = next(csv.reader(fh))
        columns = detect_columns(header)
        assert {col: columns[col] for col in expected} == expected, name
