"""Naming themes: c-TF-IDF keywords, a short phrase title, and representative examples.

``Labeler`` is the interface; ``CTfidfLabeler`` is the built-in one. A labeler takes plain
texts and labels and returns plain results, so a local LLM labeler can be slotted in later.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

__all__ = ["CTfidfLabeler", "Label", "Labeler", "representative_examples"]

# Placeholders the cleaner puts where PII was ([EMAIL], [PHONE], ...) never become keywords.
_TOKEN = re.compile(r"\[[A-Z_]+\]|[a-z][a-z0-9'&+-]*[a-z0-9]|[a-z]")

STOP_WORDS = frozenset(
    """a about above after again against all also am an and any are aren't as at be because been
    before being below between both but by can can't cannot could couldn't did didn't do does
    doesn't doing don't down during each few for from further get got had hadn't has hasn't have
    haven't having he her here hers herself him himself his how i i'd i'll i'm i've if in into is
    isn't it it's its itself just let's like me more most my myself no nor not now of off on once
    only or other ought our ours ourselves out over own please same she should shouldn't so some
    such than thank thanks that that's the their theirs them themselves then there there's these
    they they'd they'll they're they've this those through to too under until up us very was
    wasn't we we'd we'll we're we've were weren't what what's when where which while who whom why
    will with won't would wouldn't you you'd you'll you're you've your yours yourself yourselves
    hi hello hey dear regards best cheers team know want need would tell let can could hi ok okay
    yes yeah help one still really much many way go going gonna get getting give say said sure
    today yesterday tomorrow s t re ve ll d m""".split()
)


@dataclass(frozen=True)
class Label:
    """What a labeler says of one theme."""

    title: str
    keywords: list[str]


class Labeler(Protocol):
    """Names each cluster 0..k-1 from its member texts."""

    def label(self, texts: Sequence[str], labels: np.ndarray) -> dict[int, Label]: ...


def _tokens(text: str) -> list[str]:
    return [t for t in _TOKEN.findall(text.lower()) if not t.startswith("[")]


def _ngrams(words: list[str], n_max: int) -> set[str]:
    grams = set()
    for n in range(1, n_max + 1):
        for i in range(len(words) - n + 1):
            gram = words[i : i + n]
            if gram[0] in STOP_WORDS or gram[-1] in STOP_WORDS:
                continue
            if n == 1 and len(gram[0]) < 3:
                continue
            grams.add(" ".join(gram))
    return grams


class CTfidfLabeler:
    """BERTopic-style class-based TF-IDF keywords, and a title from the best phrase.

    Each cluster's documents are joined into one "class document"; a term's weight is its
    frequency in the class times log(1 + average class size / its frequency over all classes).
    Phrases (2-4 words) are counted once per document, so a title is what many members say,
    not what one member repeats.
    """

    def __init__(self, n_keywords: int = 8, max_phrase: int = 4) -> None:
        self.n_keywords = n_keywords
        self.max_phrase = max_phrase

    def label(self, texts: Sequence[str], labels: np.ndarray) -> dict[int, Label]:
        k = int(labels.max()) + 1 if labels.size else 0
        if k == 0:
            return {}
        doc_freq: list[Counter[str]] = [Counter() for _ in range(k)]
        sizes = np.zeros(k, dtype=np.int64)
        for text, lab in zip(texts, labels, strict=True):
            if lab < 0:
                continue
            sizes[lab] += 1
            doc_freq[lab].update(_ngrams(_tokens(text), self.max_phrase))
        total: Counter[str] = Counter()
        for c in doc_freq:
            total.update(c)
        avg = max(1.0, float(sizes.sum()) / k)
        out: dict[int, Label] = {}
        for lab in range(k):
            if sizes[lab] == 0:
                out[lab] = Label(title="(empty)", keywords=[])
                continue
            out[lab] = self._label_one(doc_freq[lab], total, int(sizes[lab]), avg)
        return out

    def _label_one(self, freq: Counter[str], total: Counter[str], size: int, avg: float) -> Label:
        def weight(term: str) -> float:
            return freq[term] * np.log(1.0 + avg / total[term])

        words = [t for t in freq if " " not in t]
        keywords = sorted(words, key=lambda t: (-weight(t), t))[: self.n_keywords]
        # A title phrase must be said by a good share of members and be specific to the theme.
        min_df = max(2, int(0.15 * size))
        phrases = [t for t in freq if freq[t] >= min(min_df, max(1, size // 2))]

        top = set(keywords[:5])

        def phrase_score(term: str) -> float:
            # Longer phrases read like a support lead's name for the theme; covering more of
            # the top keywords means the phrase says what the whole theme is about.
            words = term.split()
            covered = len(top.intersection(words))
            return weight(term) * (1.0 + 0.35 * (len(words) - 1)) * (1.0 + 0.25 * covered)

        multi = [t for t in phrases if " " in t]
        best = max(multi, key=lambda t: (phrase_score(t), t), default=None)
        if best is None and len(keywords) > 1:
            # No phrase is said often enough: two keywords, in the order members say them.
            a, b = keywords[0], keywords[1]
            best = f"{b} {a}" if freq[f"{b} {a}"] > freq[f"{a} {b}"] else f"{a} {b}"
        title = best or (keywords[0] if keywords else "")
        return Label(title=title or "(no words)", keywords=keywords)


def representative_examples(
    vectors: np.ndarray, centroid: np.ndarray, n: int = 5, diversity: float = 0.3
) -> list[int]:
    """Row indices of ``n`` members that are central yet unlike each other (MMR).

    Args:
        vectors: unit vectors of the theme's members.
        centroid: the theme's unit centroid.
        n: how many examples to pick.
        diversity: 0 = purely central, 1 = purely diverse.
    """
    if len(vectors) == 0:
        return []
    central = vectors @ centroid
    chosen = [int(central.argmax())]
    pool = set(np.argsort(-central)[: max(n * 10, 50)].tolist()) - set(chosen)
    while len(chosen) < min(n, len(vectors)) and pool:
        cand = np.array(sorted(pool))
        redundancy = (vectors[cand] @ vectors[chosen].T).max(axis=1)
        score = (1 - diversity) * central[cand] - diversity * redundancy
        pick = int(cand[score.argmax()])
        chosen.append(pick)
        pool.discard(pick)
    return chosen
