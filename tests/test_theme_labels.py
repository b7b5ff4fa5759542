"""Theme titles, keywords and examples on generated themes with known phrases (no model, no db).

Each generated theme plants a phrase in most of its texts and mixes in the noise a help desk
has: greetings, web-form headers, PII placeholders, card and order numbers, stock phrases
("according to my account", "can you tell me"). A good labeler names every theme by its planted
phrase and never by the noise.
"""

from __future__ import annotations

import csv
import gzip
import io
import re
from importlib import resources

import numpy as np
import pytest

from rootline.clustering.labels import (
    FILLER_WORDS,
    STOP_WORDS,
    CTfidfLabeler,
    Label,
    Labeler,
    representative_examples,
)

PLANTED = [
    "parcel arrives crushed",
    "invoice download fails",
    "loyalty points vanished",
    "login screen freezes",
    "gift voucher rejected",
    "courier ignores doorbell",
    "subscription renews unexpectedly",
    "PIN reminder letter",
]
# Other things members of theme i say, so the planted phrase is not the only content.
OWN_WORDS = [
    ["box", "corner", "fragile"],
    ["pdf", "portal", "accounts"],
    ["balance", "rewards", "shop"],
    ["android", "update", "tablet"],
    ["birthday", "present", "basket"],
    ["van", "neighbour", "porch"],
    ["monthly", "plan", "renewal"],
    ["post", "envelope", "branch"],
]
SHARED = ["order", "website", "yesterday", "account", "purchase", "item", "store", "week"]
FRAMES = [
    "my {p}",
    "the {p} again",
    "{p} and nobody answers",
    "I noticed {p} this morning",
    "why is it that {p}",
    "{p}",
    "{p}, what now",
    "hello, {p}",
]


def _sentence(rng: np.random.Generator, words: list[str], n: int) -> str:
    return " ".join(rng.choice(words, size=n).tolist())


def generated_themes(
    seed: int, per_theme: int = 40, n_noise: int = 30
) -> tuple[list[str], np.ndarray]:
    """Texts and labels of ``len(PLANTED)`` themes plus unthemed noise rows (label -1)."""
    rng = np.random.default_rng(seed)
    texts: list[str] = []
    labels: list[int] = []
    for c, phrase in enumerate(PLANTED):
        for _ in range(per_theme):
            parts = []
            if rng.random() < 0.5:  # a web form header every theme shares
                parts.append(
                    "Contact form: Web shop Order number: BC-[PHONE] Topic: Web shop Message:"
                )
            roll = rng.random()
            if roll < 0.5:
                parts.append(str(rng.choice(FRAMES)).format(p=phrase) + ".")
            elif roll < 0.75:  # the same words, not as one phrase
                parts.append(", ".join(reversed(phrase.split())) + ".")
            parts.append(_sentence(rng, OWN_WORDS[c] + SHARED, 4) + ".")
            if c == 0 and rng.random() < 0.95:  # stock phrase said by one theme only
                parts.append("It has not moved according to my account.")
            if c == 1 and rng.random() < 0.95:  # an identifier said by one theme only
                parts.append(f"Card ending {rng.integers(1000, 9999)}.")
            if c == 3:  # every member quotes its own order number
                parts.append(f"Order BC-{rng.integers(1_000_000, 9_999_999)} again.")
            if c == 2 and rng.random() < 0.95:
                parts.append("Can you tell me what is going on?")
            if rng.random() < 0.4:
                parts.append("I'd appreciate a quick reply. My e-mail is [EMAIL].")
            texts.append(" ".join(parts))
            labels.append(c)
    for _ in range(n_noise):
        texts.append(_sentence(rng, [*SHARED, "noise", "random", "words"], 6))
        labels.append(-1)
    order = rng.permutation(len(texts))
    return [texts[i] for i in order], np.asarray(labels)[order]


def _content(word: str) -> bool:
    return word not in STOP_WORDS and word not in FILLER_WORDS


def check_title_rules(names: dict[int, Label]) -> None:
    """Rules every title and keyword list must follow, whatever the data."""
    titles = [n.title for n in names.values()]
    assert len(set(titles)) == len(titles), titles
    for name in names.values():
        words = name.title.lower().split()
        assert 2 <= len(words) <= 6, name.title
        assert _content(words[0]) and _content(words[-1]), name.title
        assert not re.search(r"(^|\s)\d|\[", name.title), name.title
        for kw in name.keywords:
            assert kw not in STOP_WORDS and kw not in FILLER_WORDS, kw
            assert "[" not in kw and not kw.isdigit() and not re.search(r"\d{5}", kw), kw


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_titles_name_the_planted_phrase_not_the_noise(seed: int) -> None:
    texts, labels = generated_themes(seed)
    names = CTfidfLabeler().label(texts, labels)
    assert sorted(names) == list(range(len(PLANTED)))
    check_title_rules(names)
    for c, phrase in enumerate(PLANTED):
        title = names[c].title.lower().split()
        assert set(phrase.lower().split()) <= set(title), (phrase, names[c].title)
        assert len(set(phrase.lower().split()) & set(names[c].keywords)) >= 2, names[c].keywords
    assert names[7].title.split()[0] == "PIN"  # written in capitals, shown in capitals


def test_vectors_are_optional_and_noise_rows_are_ignored() -> None:
    texts, labels = generated_themes(3)
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(len(texts), 16))
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    with_vectors = CTfidfLabeler().label(texts, labels, vectors=vectors)
    check_title_rules(with_vectors)
    noisy = [t if lab >= 0 else "[EMAIL] noise noise" for t, lab in zip(texts, labels, strict=True)]
    assert CTfidfLabeler().label(noisy, labels) == CTfidfLabeler().label(texts, labels)


def test_two_themes_that_share_their_main_phrase_get_different_titles() -> None:
    rng = np.random.default_rng(5)
    texts, labels = [], []
    for c, own in enumerate(["bank transfer pending", "gift card balance"]):
        for i in range(30):
            extra = f" The {own} too." if i % 2 == 0 else ""
            texts.append(f"My refund never arrived.{extra} {_sentence(rng, SHARED, 3)}.")
            labels.append(c)
    names = CTfidfLabeler().label(texts, np.asarray(labels))
    check_title_rules(names)
    assert names[0].title != names[1].title
    assert {"bank", "transfer"} & set(names[0].title.split()) or {"gift", "card"} & set(
        names[1].title.split()
    )


def test_members_near_the_centre_name_the_theme_when_vectors_are_given() -> None:
    rng = np.random.default_rng(1)
    centre = np.eye(8)[0]
    texts, rows = [], []
    for i in range(40):
        first = i % 2 == 0
        texts.append("The screen flickers constantly." if first else "Battery drains overnight.")
        rows.append(centre + (0.05 if first else 1.5) * rng.normal(size=8))
    for _ in range(40):  # a second theme, so precision is not trivially 1 everywhere
        texts.append("Printer jams paper.")
        rows.append(np.eye(8)[1] + 0.05 * rng.normal(size=8))
    vectors = np.asarray(rows)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    labels = np.repeat([0, 1], 40)
    near = CTfidfLabeler().label(texts, labels, vectors=vectors)[0].title
    assert near == "screen flickers constantly"
    # Swap which half sits near the centre: the title follows.
    swapped = [texts[i + 1] if i % 2 == 0 else texts[i - 1] for i in range(40)] + texts[40:]
    far = CTfidfLabeler().label(swapped, labels, vectors=vectors)[0].title
    assert far == "battery drains overnight"


def test_empty_cluster_and_no_clusters() -> None:
    assert CTfidfLabeler().label([], np.array([], dtype=np.int64)) == {}
    names = CTfidfLabeler().label(["app crashes on start"] * 3, np.array([1, 1, 1]))
    assert names[0].title == "(empty)" and names[0].keywords == []
    assert names[1].title.startswith("app crashes")


def test_builtin_labeler_satisfies_the_interface() -> None:
    labeler: Labeler = CTfidfLabeler()
    assert labeler.label(["a b"], np.array([-1])) == {}


def test_representative_examples_are_central_and_not_copies() -> None:
    rng = np.random.default_rng(2)
    centre = np.eye(12)[0]
    copies = np.tile(centre + 0.01 * rng.normal(size=12), (10, 1))
    others = centre + 0.6 * rng.normal(size=(30, 12))
    vectors = np.vstack([copies, others])
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    picks = representative_examples(vectors, centre, n=5)
    assert len(picks) == len(set(picks)) == 5
    central = vectors @ centre
    assert picks[0] == int(central.argmax())
    assert sum(p < 10 for p in picks) == 1  # one of the ten near-copies, not several
    assert min(central[picks]) > np.median(central)  # still among the central members
    # With nothing else left, a near-copy is still better than fewer examples.
    assert sorted(representative_examples(vectors[:2], centre, n=5)) == [0, 1]


def _clinc_by_intent(per_intent: int) -> tuple[list[str], list[str]]:
    raw = resources.files("rootline.fixtures").joinpath("clinc150.csv.gz").read_bytes()
    rows = csv.DictReader(io.StringIO(gzip.decompress(raw).decode("utf-8")))
    seen: dict[str, int] = {}
    texts, intents = [], []
    for r in rows:
        if r["intent"] == "oos" or seen.get(r["intent"], 0) >= per_intent:
            continue
        seen[r["intent"]] = seen.get(r["intent"], 0) + 1
        texts.append(r["text"])
        intents.append(r["intent"])
    return texts, intents


@pytest.mark.slow
def test_clinc_titles_share_words_with_the_intent_names() -> None:
    """With CLINC150's intents as themes, most titles use a word of the intent's name."""
    texts, intents = _clinc_by_intent(60)
    names_of = sorted(set(intents))
    labels = np.searchsorted(names_of, intents)
    names = CTfidfLabeler().label(texts, labels)
    check_title_rules({c: n for c, n in names.items() if len(n.title.split()) > 1})

    def stems(words: list[str]) -> set[str]:
        return {w[:4] for w in words if len(w) > 2}

    hits = sum(
        bool(stems(names[c].title.lower().split()) & stems(intent.split("_")))
        for c, intent in enumerate(names_of)
    )
    assert hits / len(names_of) >= 0.65
    assert sum(len(n.title.split()) >= 2 for n in names.values()) / len(names) >= 0.9
