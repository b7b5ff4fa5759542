"""Boilerplate found from the corpus itself, not from a list.

A sentence or line that recurs near-verbatim across many contacts (once personal data is masked
and digits are folded) is either what customers add to every message (account details,
sign-offs, signatures, disclaimers, a mail client's footer) or a real, common complaint. The two
differ in what the rest of those contacts says: beside boilerplate it is a random draw from the
corpus; beside a complaint it is about the same thing. ``learn`` keeps a recurring segment as
boilerplate only when what the rest of its contacts says (each one's longest segment that does
not recur) is no more alike than in as many random contacts (a null drawn from the same corpus),
so a phrase that carries a theme stays.

``Boilerplate.remove`` drops those segments from a text, and also a leading or trailing run of
words that spells one of them where a line has no punctuation to end its sentence ("set an alarm
for seven Customer number: [PHONE]").
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import sparse

from rootline.ingest.cleaning import drop_signature

__all__ = ["Boilerplate", "learn", "segment_key"]

# A sentence ends at . ! ? followed by space; a line always ends a segment.
_SEGMENT = re.compile(r"[^\n]*?(?:[.!?]+(?=\s)|$)", re.M)
_TOKEN = re.compile(r"\[[A-Z]+\]|[^\W_]+", re.U)
_DIGITS = re.compile(r"\d+")
#: A segment must recur in at least this many contacts to be a candidate ...
_MIN_DOCS = 5
#: ... and in this share of them (a smooth function of n: max of the two).
_MIN_SHARE = 0.002
#: The corpus sample boilerplate is learnt from (counts need no more).
_SAMPLE = 50_000
#: Random draws for the null distance of each candidate.
_NULL_DRAWS = 12
#: The rest of boilerplate's contacts may be alike beyond chance by at most this many
#: standard deviations of the null ...
_NULL_SIGMAS = 3.0
#: ... and at most this ratio of the null's mean: both must hold (the first guards small
#: samples, where a ratio is noisy; the second large ones, where the null is tight).
_NULL_RATIO = 1.5
#: A segment whose contacts say nothing else in more than this share is not judged: there is
#: no rest to compare, and a whole message is never boilerplate.
_MAX_ALONE = 0.5
#: Longest segment (in words) considered: boilerplate sentences are short.
_MAX_WORDS = 40


def _word(token: str) -> str:
    """A word as compared: lower case, digits folded, a capitalised name folded to ``N``."""
    if token[0].isupper() and len(token) > 1 and not token.isupper() and token[0] != "[":
        return "N"
    return _DIGITS.sub("#", token.lower())


def _key(tokens: Sequence[str]) -> tuple[str, ...]:
    # The first word of a sentence is capitalised for grammar, not because it is a name.
    if not tokens:
        return ()
    return (_DIGITS.sub("#", tokens[0].lower()), *map(_word, tokens[1:]))


def segment_key(segment: str) -> tuple[str, ...]:
    """The form a segment is compared in: lower case words, digits and names folded."""
    return _key(_TOKEN.findall(segment))


def _segments(text: str) -> list[str]:
    """The sentences and lines of ``text``, empty ones left out."""
    return [m.group() for m in _SEGMENT.finditer(text) if m.group().strip()]


@dataclass
class Boilerplate:
    """Segments found to be boilerplate; ``remove`` takes them out of a text."""

    keys: frozenset[tuple[str, ...]] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        # For the runs at a segment's edges: the lengths to try, and each key's first and last
        # word, so most segments are ruled out by one set lookup.
        self._sizes = sorted({len(k) for k in self.keys if len(k) > 1}, reverse=True)
        self._firsts = {k[0] for k in self.keys}
        self._lasts = {k[-1] for k in self.keys}

    def __len__(self) -> int:
        return len(self.keys)

    def __bool__(self) -> bool:
        return bool(self.keys)

    def as_list(self) -> list[list[str]]:
        """A JSON-ready form (``from_list`` reads it back)."""
        return sorted(list(k) for k in self.keys)

    @classmethod
    def from_list(cls, keys: Iterable[Sequence[str]] | None) -> Boilerplate:
        return cls(frozenset(tuple(k) for k in keys or ()))

    def _edge(self, segment: str, words: list[re.Match[str]]) -> tuple[int, int]:
        """How much of ``segment`` (characters from the start, from the end) spells boilerplate:
        the longest leading and trailing runs of two words or more, leaving at least one word.
        ``words`` are the segment's tokens."""
        n = len(words)
        if n < 3:
            return 0, 0
        lowered = [_DIGITS.sub("#", w.group().lower()) for w in words]
        folded = [_word(w.group()) for w in words]
        head = tail = 0
        if lowered[0] in self._firsts:
            for size in self._sizes:
                if size < n and (lowered[0], *folded[1:size]) in self.keys:
                    head = words[size].start()
                    break
        if folded[-1] in self._lasts:
            for size in self._sizes:
                if size < n and (lowered[n - size], *folded[n - size + 1 :]) in self.keys:
                    tail = len(segment) - words[n - size].start()
                    break
        if head and tail and head >= len(segment) - tail:
            tail = 0
        return head, tail

    def remove(self, text: str) -> str:
        """``text`` without its boilerplate segments; unchanged when nothing else would be left.

        Where a boilerplate line went, the signature lines it held at the bottom go too (a name,
        a job title, contact details above a removed disclaimer).
        """
        if not self.keys or not text:
            return text
        lines: list[str] = []
        changed = False
        for line in text.split("\n"):
            kept: list[str] = []
            for segment in _segments(line):
                words = list(_TOKEN.finditer(segment))
                if _key([w.group() for w in words]) in self.keys:
                    changed = True
                    continue
                head, tail = self._edge(segment, words)
                if head or tail:
                    segment = segment[head : len(segment) - tail]
                    changed = True
                kept.append(segment.strip())
            kept_line = " ".join(k for k in kept if k)
            if kept_line:
                lines.append(kept_line)
        if not changed:
            return text
        out = "\n".join(drop_signature(lines))
        return out if segment_key(out) else text


def learn(texts: Sequence[str], *, seed: int = 0) -> Boilerplate:
    """The boilerplate of a corpus: recurring segments whose contacts say nothing in common.

    Args:
        texts: cleaned contact texts, lines kept (``clean_text`` output).
        seed: the random draws of the null distances.
    """
    rng = np.random.default_rng(seed)
    if len(texts) > _SAMPLE:
        texts = [texts[i] for i in sorted(rng.choice(len(texts), _SAMPLE, replace=False))]
    n = len(texts)
    min_docs = max(_MIN_DOCS, int(np.ceil(_MIN_SHARE * n)))
    if n < 2 * min_docs:
        return Boilerplate()
    doc_keys: list[list[tuple[str, ...]]] = []
    df: Counter[tuple[str, ...]] = Counter()
    for text in texts:
        keys = [segment_key(segment) for segment in _segments(text)]
        keys = [k for k in keys if k and len(k) <= _MAX_WORDS]
        doc_keys.append(keys)
        df.update(set(keys))
    postings: dict[tuple[str, ...], list[int]] = {k: [] for k, c in df.items() if c >= min_docs}
    if not postings:
        return Boilerplate()
    for i, keys in enumerate(doc_keys):
        for k in set(keys):
            if k in postings:
                postings[k].append(i)
    # What each contact says besides its recurring segments.
    vocab: dict[str, int] = {}
    indptr: list[int] = [0]
    indices: list[int] = []
    for keys in doc_keys:
        # The longest segment that does not recur is what the contact is about; shorter ones
        # (a name, a job title) would make contacts that share a layout look alike.
        about = max((k for k in keys if k not in postings), key=len, default=())
        indices.extend(vocab.setdefault(w, len(vocab)) for w in about)
        indptr.append(len(indices))
    data = np.ones(len(indices), dtype=np.float32)
    counts = sparse.csr_matrix((data, indices, indptr), shape=(n, len(vocab)))
    counts.sum_duplicates()
    says_more = np.diff(counts.indptr) > 0
    pool = np.nonzero(says_more)[0]
    # Each contact's words, present or not, weighted by rarity, as a unit vector.
    counts.data[:] = 1.0
    idf = np.log((1 + len(pool)) / (1 + np.bincount(counts.indices, minlength=len(vocab)))) + 1
    rows = counts.multiply(idf[None, :]).tocsr()
    norms = np.sqrt(np.asarray(rows.multiply(rows).sum(axis=1)).ravel())
    rows = sparse.diags(1 / np.maximum(norms, 1e-12)).dot(rows).tocsr()

    def alike(docs: np.ndarray) -> float:
        """Mean cosine similarity of the contacts' words, over every pair of them."""
        total = np.asarray(rows[docs].sum(axis=0)).ravel()
        m = len(docs)
        return (float(total @ total) - m) / (m * (m - 1))

    found = set()
    for key, docs in postings.items():
        rest = np.array([i for i in docs if says_more[i]], dtype=np.int64)
        if len(rest) < min_docs or len(rest) < (1 - _MAX_ALONE) * len(docs):
            continue
        observed = alike(rest)
        null = [alike(rng.choice(pool, len(rest), replace=False)) for _ in range(_NULL_DRAWS)]
        mu, sd = float(np.mean(null)), float(np.std(null))
        if observed <= min(mu + _NULL_SIGMAS * sd, _NULL_RATIO * mu):
            found.add(key)
    return Boilerplate(frozenset(found))
