"""Boilerplate found from the corpus itself: what customers add to every message goes, what a
theme's contacts share stays."""

from __future__ import annotations

import csv
import gzip
import random
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from rootline.clustering.cluster import DensityClusterer
from rootline.clustering.embedding import HashingEmbedder, text_hash
from rootline.clustering.models import ClusteringRun, EmbeddingCache
from rootline.clustering.runs import run_clustering
from rootline.clustering.stats import corpus_boilerplate
from rootline.ingest.boilerplate import Boilerplate, learn, segment_key
from rootline.ingest.cleaning import clean_text
from rootline.ingest.models import Interaction
from tests.factories import InteractionFactory, themed_texts

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"

# Written for this test: account details, preambles and sign-offs no cleaning rule knows.
_AROUND = [
    "Member number {d}.",
    "Long-standing client of yours.",
    "My login is registered to {mail}.",
    "Writing on behalf of my household.",
]
_AFTER = ["Speak later,", "Yours gratefully,", "Appreciate it."]


def _intents(limit: int = 1200, seed: int = 0) -> tuple[list[str], list[str]]:
    with gzip.open(FIXTURES / "hwu64.csv.gz", "rt", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    random.Random(seed).shuffle(rows)
    rows = rows[:limit]
    return [r["text"] for r in rows], [r["intent"] for r in rows]


def _mail(text: str, rng: random.Random) -> str:
    parts = [text]
    if rng.random() < 0.7:
        extra = rng.choice(_AROUND).format(
            d=rng.randint(10**6, 10**7), mail=f"user{rng.randint(1, 999)}@example.com"
        )
        parts.insert(rng.randint(0, 1), extra)
    lines = [" ".join(parts)]
    if rng.random() < 0.6:
        lines += ["", rng.choice(_AFTER), rng.choice(["Ana", "Bo Lind", "Cy Park"])]
    return "\n".join(lines)


@pytest.fixture(scope="module")
def wrapped() -> tuple[list[str], list[str], list[str]]:
    texts, intents = _intents()
    rng = random.Random(1)
    return texts, intents, [clean_text(_mail(t, rng)) for t in texts]


def test_recurring_account_details_and_sign_offs_are_learnt_and_stripped(wrapped) -> None:  # type: ignore[no-untyped-def]
    texts, _, mails = wrapped
    boilerplate = learn(mails)
    for phrase in ("Member number [PHONE].", "Long-standing client of yours.", "Speak later,"):
        assert segment_key(phrase) in boilerplate.keys, phrase
    stripped = [boilerplate.remove(m) for m in mails]
    same = sum(
        s.lower().rstrip(".?!") == t.lower().rstrip(".?!")
        for s, t in zip(stripped, texts, strict=True)
    )
    # The customer's sentence is what is left (a name line after a sign-off goes with it).
    assert same / len(texts) > 0.95
    # Nothing is learnt from the same texts without mail around them.
    assert not learn(texts)


def test_a_sentence_a_themes_contacts_share_is_kept(wrapped) -> None:  # type: ignore[no-untyped-def]
    _, intents, mails = wrapped
    signal = "The alarm did not ring this morning."
    marked = [
        f"{m}\n{signal}" if intent.startswith("alarm") else m
        for m, intent in zip(mails, intents, strict=True)
    ]
    assert sum(signal in m for m in marked) >= 20
    boilerplate = learn(marked)
    assert segment_key(signal) not in boilerplate.keys
    assert segment_key("Member number [PHONE].") in boilerplate.keys


def test_a_message_that_is_only_a_common_sentence_is_never_emptied() -> None:
    rng = random.Random(3)
    texts, _ = _intents(600)
    corpus = [clean_text(_mail(t, rng)) for t in texts] + ["Speak later,"] * 40
    boilerplate = learn(corpus)
    assert segment_key("Speak later,") in boilerplate.keys
    assert boilerplate.remove("Speak later,") == "Speak later,"
    assert (
        boilerplate.remove("Speak later,\nMember number [PHONE].")
        == "Speak later,\nMember number [PHONE]."
    )


def test_a_phrase_glued_to_an_unpunctuated_sentence_is_cut_at_either_edge() -> None:
    boilerplate = Boilerplate.from_list(
        [
            segment_key("Member number [PHONE]."),
            segment_key("The account holder is Jo Li, DOB 1/2/33."),
        ]
    )
    glued = "set an alarm for seven Member number [PHONE]."
    assert boilerplate.remove(glued) == "set an alarm for seven"
    assert (
        boilerplate.remove("The account holder is Carmen Ruiz, DOB 07/03/1954. brew some coffee")
        == "brew some coffee"
    )
    # The same words inside a sentence are the customer's.
    inside = "my member number [PHONE] is wrong on the bill"
    assert boilerplate.remove(inside) == inside
    assert Boilerplate.from_list(boilerplate.as_list()).keys == boilerplate.keys


def test_signature_lines_above_a_removed_disclaimer_go_with_it() -> None:
    boilerplate = Boilerplate.from_list([segment_key("This mail was checked for viruses.")])
    text = (
        "My parcel never came.\nBo Lind\nHead of Finance | Pine Labs\n"
        "This mail was checked for viruses."
    )
    assert boilerplate.remove(text) == "My parcel never came."


def test_a_full_run_embeds_texts_without_boilerplate_and_later_runs_reuse_it(
    session: Session,
) -> None:
    InteractionFactory._meta.sqlalchemy_session = session
    rng = random.Random(5)
    items = themed_texts(40, 0)
    for i, (text, theme) in enumerate(items):
        InteractionFactory(
            external_id=f"B{i}", body_clean=clean_text(_mail(text, rng)), extra={"intent": theme}
        )
    run = run_clustering(session, HashingEmbedder(), DensityClusterer(min_cluster_size=8))
    learnt = Boilerplate.from_list(run.params["boilerplate"])
    assert segment_key("Long-standing client of yours.") in learnt.keys
    assert corpus_boilerplate(session).keys == learnt.keys
    # What was embedded is each text less its boilerplate.
    cached = set(session.scalars(sa.select(EmbeddingCache.text_hash)))
    bodies = list(session.scalars(sa.select(Interaction.body_clean)))
    assert all(text_hash(learnt.remove(b)) in cached for b in bodies)
    changed = [b for b in bodies if learnt.remove(b) != b]
    assert len(changed) > len(bodies) / 2
    assert not any(text_hash(b) in cached for b in changed)
    # An incremental run places a new contact as its text alone would be placed.
    text = items[1][0]
    InteractionFactory(external_id="new1", body_clean=f"{text}\nSpeak later,\nAna")
    InteractionFactory(external_id="new2", body_clean=f"Member number [PHONE]. {text}")
    inc = run_clustering(session, HashingEmbedder(), DensityClusterer(min_cluster_size=8))
    assert inc.kind == "incremental"
    vectors = {
        h: np.frombuffer(v, dtype=np.float32)
        for h, v in session.execute(sa.select(EmbeddingCache.text_hash, EmbeddingCache.vector))
    }
    assert text_hash(text) in vectors
    assert text_hash(f"{text}\nSpeak later,\nAna") not in vectors
    assert session.scalar(sa.select(sa.func.count()).select_from(ClusteringRun)) == 2
