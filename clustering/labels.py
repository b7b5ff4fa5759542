"""Naming themes: c-TF-IDF keywords, a short phrase title, and representative examples.

``Labeler`` is the interface; ``CTfidfLabeler`` is the built-in one. A labeler takes plain
texts and labels (and, when the caller has them, the texts' unit vectors) and returns plain
results, so a local LLM labeler can be slotted in later. Nothing here downloads anything.

How the built-in labeler names a theme:

* **Keywords** are words ranked by class-based TF-IDF (BERTopic's c-TF-IDF on document
  frequencies): said by many of the theme's members and by few others. Stop words, support
  filler ("customer", "asked"), PII placeholders (``[EMAIL]``) and numbers never qualify.
* **Title candidates** are phrases of 2-6 words taken from the texts without crossing
  punctuation, numbers or placeholders, starting and ending on a content word. A candidate is
  scored by how many members say it (coverage), how much of its use falls inside the theme
  (precision), the keyword weight of its words, how central the members saying it are, and
  whether it names a problem ("not", "error", "declined"). Phrases that only introduce an
  identifier ("card ending 1234", "order number BC-...") and stock support phrases ("according
  to my account", "can you tell me") are left out.
* **Titles are unique**: themes pick in order of confidence, and a theme whose best phrase is
  taken (or says the same words) takes its next best.
"""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

__all__ = [
    "FILLER_WORDS",
    "STOP_PHRASES",
    "STOP_WORDS",
    "CTfidfLabeler",
    "Label",
    "Labeler",
    "representative_examples",
]

STOP_WORDS = frozenset(
    """a about above after again against all also am an and any are aren't as at be because been
    before being below between both but by can can't cannot could couldn't did didn't do does
    doesn't doing don't down during each either else even ever every few for from further get
    gets got had hadn't has hasn't have haven't having he her here hers herself him himself his
    how however i i'd i'll i'm i've if in into is isn't it it's its itself just let's like me
    might more most must my myself no nor not now of off on once only or other ought our ours
    ourselves out over own please same she should shouldn't so some such than that that's the
    their theirs them themselves then there there's these they they'd they'll they're they've
    this those through to too under until up us very was wasn't we we'd we'll we're we've were
    weren't what what's when where where's which while who whom whose why will with won't would
    wouldn't you you'd you'll you're you've your yours yourself yourselves yet via per
    im ive id ill dont didnt doesnt isnt cant wont wasnt havent hasnt couldnt wouldnt shouldnt
    arent werent thats whats theres u ur pls plz thx ty
    hi hello hey dear regards best cheers thank thanks ok okay yes yeah sure
    s t re ve ll d m one two much many way go going gonna give say know want need tell let
    really still already just something anything everything someone anyone thing things
    lot bit kind sort since though although unless whether upon within without across along
    among around toward towards onto throughout whereas whatever whenever wherever anybody
    somebody somewhere anyway otherwise instead rather quite almost maybe perhaps""".split()
)

#: Words of support meta-talk: who said what, how urgent, where the form came from. They can
#: sit inside a title but never start or end one, and are never keywords.
FILLER_WORDS = frozenset(
    """customer customers cust cx caller client user agent rep called calls rang phoned rung
    says said states stated asked asks asking advised explained told wrote writes message
    messages topic subject contact contacted contacting form regarding reference ref case
    ticket query enquiry inquiry question questions issue issues problem problems help
    appreciate quick reply respond response asap urgent urgently frustrating frustrated
    disappointed disappointing annoyed upset sorry waiting wait second third time times asking
    again today yesterday tomorrow morning afternoon evening ago soon possible able sure unfortunately however anyway also
    according apparently basically actually literally thanks assistance support team
    hope hoping wondering wonder looking look trying tried try would like mr mrs ms miss sir
    madam opened checked transferred verified escalated raised logged confirmed
    collected reissued unblocked removed ordered placed advised offered processed
    monday tuesday wednesday thursday friday saturday sunday weekend tonight
    january february march april may june july august september october november december
    """.split()
)

#: Stock phrases of support talk; a title candidate containing one is left out.
STOP_PHRASES = (
    "according to my account",
    "i would like to",
    "i'd like to",
    "can you tell me",
    "could you tell me",
    "can you help",
    "could you help",
    "please help",
    "let me know",
    "let me look into",
    "thanks for waiting",
    "thank you for",
    "as soon as possible",
    "appreciate a quick reply",
    "this is really frustrating",
    "still not resolved",
    "second time asking",
    "any help",
    "in advance",
    "get back to me",
    "look into it",
    "i need to know",
    "i want to know",
    "do you know",
    "is it possible",
    "i was wondering",
    "how do i",
    "how can i",
    "what do i",
    "where do i",
    "why is my",
    "find out",
)

#: Words that say something is wrong; a title naming the problem reads better.
PROBLEM_WORDS = frozenset(
    """not no never cannot can't won't doesn't didn't isn't hasn't haven't wasn't aren't don't
    cant wont doesnt didnt isnt hasnt havent wasnt dont unable error errors fail fails failed
    failing failure declined decline refused rejected rejects missing lost stolen wrong
    broken damaged late delayed delay stuck crash crashes crashed crashing freeze frozen
    locked blocked charged twice double duplicate overcharged invalid expired incorrect
    faulty defective""".split()
)

_PLACEHOLDER = re.compile(r"\[[A-Z_]+\]")
# One piece of text: an identifier (a placeholder, possibly glued to letters, a number, or a
# code with five digits or more such as BC-4047766), a word, or a punctuation mark.
# Identifiers and punctuation both end a phrase.
_PIECE = re.compile(
    r"(?P<id>[A-Za-z0-9-]*\[[A-Z_]+\][A-Za-z0-9-]*|[A-Za-z0-9-]*\d{5}[A-Za-z0-9-]*"
    r"|[£$€#]?\d[\w.,:/-]*)"
    r"|(?P<word>[A-Za-z0-9](?:[A-Za-z0-9'&+-]*[A-Za-z0-9])?)"
    r"|(?P<punct>[^\sA-Za-z0-9])"
)
_QUOTES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u201c": '"', "\u201d": '"'})
_SKIP_EDGE = STOP_WORDS | FILLER_WORDS


@dataclass(frozen=True)
class Label:
    """What a labeler says of one theme."""

    title: str
    keywords: list[str]


class Labeler(Protocol):
    """Names each cluster 0..k-1 from its member texts (and their vectors, when given)."""

    def label(
        self, texts: Sequence[str], labels: np.ndarray, vectors: np.ndarray | None = None
    ) -> dict[int, Label]: ...


@dataclass
class _Doc:
    """The words and candidate phrases of one text."""

    words: set[str] = field(default_factory=set)
    phrases: set[tuple[str, ...]] = field(default_factory=set)
    # Phrases that only introduce an identifier or a field ("card ending 1234", "order
    # number: ..."): the last content words before a number, a placeholder or a colon.
    before_id: set[tuple[str, ...]] = field(default_factory=set)


def _keyword_form(word: str) -> str:
    return word[:-2] if word.endswith("'s") else word


def _is_content(word: str) -> bool:
    return word not in _SKIP_EDGE and len(word) > 1 and any(c.isalpha() for c in word)


def _parse(text: str, max_words: int, cased: Counter[str]) -> _Doc:
    doc = _Doc()
    segments: list[tuple[list[str], str]] = []
    current: list[str] = []
    for m in _PIECE.finditer(text.translate(_QUOTES)):
        word = m.group("word")
        if word is None:
            if current:
                end = "id" if m.group("id") is not None else m.group(0)
                segments.append((current, end))
            current = []
            continue
        low = word.lower()
        current.append(low)
        cased[low] += 1
        if word.isupper() and len(word) > 1:
            cased["^" + low] += 1
    if current:
        segments.append((current, ""))
    for words, end in segments:
        for w in words:
            if _is_content(kw := _keyword_form(w)) and len(kw) > 2:
                doc.words.add(kw)
        n_words = len(words)
        last = max((i for i, w in enumerate(words) if _is_content(w)), default=-1)
        for i in range(n_words):
            if not _is_content(words[i]):
                continue
            for j in range(i + 1, min(n_words, i + max_words)):
                if not _is_content(words[j]):
                    continue
                phrase = tuple(words[i : j + 1])
                doc.phrases.add(phrase)
                # "Topic: ..." and "Order number: ..." are fields of a form, not what is said.
                if end == ":" or (end == "id" and j == last):
                    doc.before_id.add(phrase)
    return doc


def _stock(phrase: tuple[str, ...]) -> bool:
    text = " " + " ".join(phrase) + " "
    return any(f" {s} " in text for s in STOP_PHRASES)


def _content_words(phrase: tuple[str, ...]) -> list[str]:
    return [w for w in phrase if _is_content(w)]


class CTfidfLabeler:
    """Class-based TF-IDF keywords and a distinctive, central 2-6 word phrase as title.

    Args:
        n_keywords: keywords per theme.
        max_phrase: longest title in words.
        max_docs: members per theme read for titles (evenly spaced), which bounds the time
            on very large themes.
    """

    def __init__(self, n_keywords: int = 8, max_phrase: int = 6, max_docs: int = 500) -> None:
        self.n_keywords = n_keywords
        self.max_phrase = max_phrase
        self.max_docs = max_docs

    def label(
        self, texts: Sequence[str], labels: np.ndarray, vectors: np.ndarray | None = None
    ) -> dict[int, Label]:
        """Keywords and a unique title for each cluster 0..max(labels).

        Args:
            texts: cleaned texts, one per row.
            labels: cluster per row, -1 for "belongs to no theme".
            vectors: optional unit vectors per row; when given, phrases said by members
                near the theme's centre are preferred.
        """
        labels = np.asarray(labels)
        k = int(labels.max()) + 1 if labels.size else 0
        if k == 0:
            return {}
        members = [np.nonzero(labels == c)[0] for c in range(k)]
        sizes = np.array([len(m) for m in members], dtype=np.float64)
        read = [
            m
            if len(m) <= self.max_docs
            else m[np.linspace(0, len(m) - 1, self.max_docs).astype(np.int64)]
            for m in members
        ]
        cased: Counter[str] = Counter()
        docs = [[_parse(texts[i], self.max_phrase, cased) for i in idx] for idx in read]
        closeness = (
            [self._closeness(vectors, idx) for idx in read] if vectors is not None else [None] * k
        )

        word_df = [Counter(w for d in ds for w in d.words) for ds in docs]
        phrase_df = [Counter(p for d in ds for p in d.phrases) for ds in docs]
        # Document frequencies over every theme, scaled up where only a sample was read.
        scale = [sizes[c] / max(1, len(read[c])) for c in range(k)]
        word_all: Counter[str] = Counter()
        phrase_all: Counter[tuple[str, ...]] = Counter()
        for c in range(k):
            for w, n in word_df[c].items():
                word_all[w] += n * scale[c]
            for p, n in phrase_df[c].items():
                phrase_all[p] += n * scale[c]
        avg = max(1.0, float(sizes.sum()) / k)

        keywords: dict[int, list[str]] = {}
        ranked: dict[int, list[tuple[float, tuple[str, ...]]]] = {}
        for c in range(k):
            if sizes[c] == 0:
                keywords[c], ranked[c] = [], []
                continue
            # A keyword is said by at least two members (one member's order id is not one).
            floor = 2 if len(read[c]) >= 4 else 1
            weights = {
                w: n * scale[c] * math.log(1.0 + avg / word_all[w])
                for w, n in word_df[c].items()
                if n >= floor
            }
            keywords[c] = self._keywords(weights)
            ranked[c] = self._rank_phrases(
                c, docs[c], phrase_df[c], phrase_all, scale[c], weights, closeness[c]
            )
        titles = self._unique_titles(ranked, keywords, phrase_df, cased)
        return {
            c: Label(title=titles[c] if sizes[c] else "(empty)", keywords=keywords[c])
            for c in range(k)
        }

    @staticmethod
    def _closeness(vectors: np.ndarray, idx: np.ndarray) -> np.ndarray | None:
        if len(idx) == 0:
            return None
        vecs = np.asarray(vectors[idx], dtype=np.float64)
        centroid = vecs.mean(axis=0)
        norm = np.linalg.norm(centroid)
        return vecs @ (centroid / norm) if norm > 0 else None

    def _keywords(self, weights: dict[str, float]) -> list[str]:
        out: list[str] = []
        for w in sorted(weights, key=lambda t: (-weights[t], t)):
            # "invoice" and "invoices" are one keyword.
            if any(w == o + "s" or o == w + "s" or w == o + "es" for o in out):
                continue
            out.append(w)
            if len(out) == self.n_keywords:
                break
        return out

    def _rank_phrases(
        self,
        c: int,
        docs: list[_Doc],
        df: Counter[tuple[str, ...]],
        df_all: Counter[tuple[str, ...]],
        scale: float,
        weights: dict[str, float],
        closeness: np.ndarray | None,
    ) -> list[tuple[float, tuple[str, ...]]]:
        n = len(docs)
        top = max(weights.values(), default=0.0) or 1.0
        min_df = max(2, math.ceil(0.03 * n)) if n >= 4 else 1
        candidates = {p: m for p, m in df.items() if m >= min_df and not _stock(p)}
        if not candidates:
            return []
        before_id: Counter[tuple[str, ...]] = Counter()
        mean_close: dict[tuple[str, ...], float] = {}
        if closeness is not None:
            sums: dict[tuple[str, ...], float] = defaultdict(float)
            for d, s in zip(docs, closeness, strict=True):
                for p in d.phrases & candidates.keys():
                    sums[p] += float(s)
            mean_close = {p: sums[p] / candidates[p] for p in candidates}
        for d in docs:
            before_id.update(d.before_id & candidates.keys())
        centre = float(closeness.mean()) if closeness is not None else 0.0

        scored = []
        for p, m in candidates.items():
            words = _content_words(p)
            if len(set(words)) < len(words):
                continue  # "email is email"
            coverage = m / n
            precision = min(1.0, m * scale / df_all[p])
            # The words' keyword weight: the best word counts as much as all of them together.
            word_weights = [weights.get(_keyword_form(w), 0.0) / top for w in words]
            strength = 0.5 * max(word_weights) + 0.5 * sum(word_weights) / len(words)
            score = math.sqrt(coverage) * precision * (0.3 + strength)
            score *= 1.0 + 0.2 * (min(len(words), 4) - 1)
            if any(w in PROBLEM_WORDS for w in p):
                score *= 1.5
            if before_id[p] * 2 > m:
                score *= 0.15  # it only introduces an identifier
            if mean_close:
                score *= float(np.clip(1.0 + 2.0 * (mean_close[p] - centre), 0.8, 1.25))
            scored.append((score, p))
        scored.sort(key=lambda t: (-t[0], t[1]))
        return scored[:30]

    @staticmethod
    def _unique_titles(
        ranked: dict[int, list[tuple[float, tuple[str, ...]]]],
        keywords: dict[int, list[str]],
        phrase_df: list[Counter[tuple[str, ...]]],
        cased: Counter[str],
    ) -> dict[int, str]:
        def shown(words: Sequence[str]) -> str:
            return " ".join(_display(w, cased) for w in words)

        taken: set[frozenset[str]] = set()
        titles: dict[int, str] = {}
        # The theme most sure of its title picks first.
        order = sorted(ranked, key=lambda c: -(ranked[c][0][0] if ranked[c] else 0.0))
        for c in order:
            choice: Sequence[str] | None = None
            for _, p in ranked[c]:
                key = frozenset(_content_words(p))
                if key not in taken:
                    choice = p
                    break
            if choice is None:
                choice = _keyword_title(keywords[c], phrase_df[c], taken)
            if not choice:
                titles[c] = "(no words)"
                continue
            taken.add(frozenset(_content_words(tuple(choice))))
            titles[c] = shown(choice)
        return titles


def _keyword_title(
    keywords: list[str], df: Counter[tuple[str, ...]], taken: set[frozenset[str]]
) -> list[str]:
    """Two keywords, in the order members say them, that no other title uses."""
    for i, a in enumerate(keywords):
        for b in keywords[i + 1 :]:
            if frozenset((a, b)) in taken:
                continue
            return [b, a] if df[(b, a)] > df[(a, b)] else [a, b]
    return keywords[:1]


def _display(word: str, cased: Counter[str]) -> str:
    """A word as people write it: "PIN", "SMS" and "VAT" keep their capitals."""
    if word == "i":
        return "I"
    if cased["^" + word] * 2 > cased[word]:
        return word.upper()
    return word


def representative_examples(
    vectors: np.ndarray, centroid: np.ndarray, n: int = 5, diversity: float = 0.3
) -> list[int]:
    """Row indices of ``n`` members that are central yet unlike each other (MMR).

    Candidates are the members closest to the centroid; each next pick maximises
    centrality minus its similarity to the picks so far, and near-copies of a pick
    (cosine >= 0.95) are taken only when nothing else is left.

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
        score = np.where(redundancy >= 0.95, score - 10.0, score)
        pick = int(cand[score.argmax()])
        chosen.append(pick)
        pool.discard(pick)
    return chosen
