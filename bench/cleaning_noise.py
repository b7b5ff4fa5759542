"""How much does e-mail noise cost theme quality, and how much of it does cleaning win back?

Takes a stratified sample of CLINC150, wraps each text in the noise real support e-mails carry
(greetings, pleasantries, sign-offs, signatures with names, titles, phones and addresses,
mobile footers, legal disclaimers, quoted earlier replies in Gmail, Outlook and Apple styles,
some of it as HTML), then embeds, clusters and scores three conditions: the clean texts, the
wrapped texts as they are, and the wrapped texts after ``clean_text``. Prints one JSON object.

The noise generator is seeded and written independently of ``rootline.ingest.cleaning``: it
composes phrases from its own vocabularies, so the cleaner is not graded on its own regexes.

    .venv/bin/python bench/cleaning_noise.py --limit 6000 --cache-dir /tmp/rl/bench-cache
"""

from __future__ import annotations

import argparse
import csv
import gzip
import hashlib
import json
import random
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
CLINC = ROOT / "fixtures" / "clinc150.csv.gz"

FIRST = [
    "Anna",
    "James",
    "Priya",
    "Mohammed",
    "Sofia",
    "Liam",
    "Chen",
    "Olga",
    "Diego",
    "Fatima",
    "Noah",
    "Aisha",
    "Lukas",
    "Mei",
    "Tom",
    "Grace",
    "Raj",
    "Elena",
    "Kwame",
    "Hannah",
    "Mateo",
    "Yuki",
    "Sean",
    "Ingrid",
    "Omar",
    "Chloe",
    "Pedro",
    "Zoe",
    "Ivan",
    "Leila",
]
LAST = [
    "Smith",
    "Okafor",
    "Patel",
    "Müller",
    "García",
    "Nguyen",
    "Johnson",
    "Kowalski",
    "Rossi",
    "Haddad",
    "O'Brien",
    "Tanaka",
    "Fischer",
    "Silva",
    "Andersson",
    "Dubois",
    "Brown",
    "Kim",
    "Novak",
    "Williams",
    "Costa",
    "Ivanova",
    "Lee",
    "Martin",
]
COMPANY = [
    "Acme Logistics Ltd",
    "Northwind Traders",
    "Blue Harbor Consulting",
    "Globex GmbH",
    "Initech Inc.",
    "Stark & Wayne LLP",
    "Umbrella Retail",
    "Vandelay Industries",
    "Hooli Europe BV",
    "Pied Piper",
    "Wonka Foods",
    "Tyrell Analytics",
    "Soylent Corp",
]
TITLE = [
    "Operations Manager",
    "Senior Account Executive",
    "Head of Finance",
    "Office Manager",
    "Software Engineer",
    "Procurement Lead",
    "Customer Success Director",
    "Founder & CEO",
    "Marketing Coordinator",
    "IT Administrator",
    "Executive Assistant to the CFO",
    "Regional Sales Manager | EMEA",
    "Store Supervisor",
]
STREET = [
    "Baker Street",
    "Elm Avenue",
    "Harbour Road",
    "Market Square",
    "King's Way",
    "Lindenstraße",
    "Rue de la Paix",
    "Oak Lane",
    "Industrial Park Drive",
    "Queen St",
]
CITY = [
    "London W1U 6RT",
    "Springfield, IL 62704",
    "10115 Berlin",
    "75002 Paris",
    "Dublin 2, Ireland",
    "Toronto, ON M5V 2T6",
    "Austin, TX 78701",
    "Manchester M1 4BT",
    "Amsterdam 1017",
    "Sydney NSW 2000",
]
DOMAIN = ["example.com", "mail.example.org", "corp.example.net", "example.co.uk", "example.de"]

GREETINGS = [
    "Hi,",
    "Hi team,",
    "Hello,",
    "Hello support,",
    "Dear Sir or Madam,",
    "Dear Customer Service,",
    "Good morning,",
    "Good afternoon team,",
    "Hey there!",
    "Hi there,",
    "Hello again,",
    "To whom it may concern,",
    "Dear {support} team,",
    "Hiya,",
    "Hey folks -",
    "Hi {agent},",
    "Dear {agent},",
    "Hello {agent}!",
    "Good evening,",
    "Greetings,",
]
OPENERS = [
    "I hope you are well.",
    "Hope you're doing well!",
    "I hope this email finds you well.",
    "Hope all is good on your end.",
    "Hope you had a nice weekend.",
    "Sorry to bother you again.",
    "I hope this message finds you well.",
    "Hope your week is going well.",
]
CLOSERS = [
    "Thanks in advance for your help!",
    "Any help would be much appreciated.",
    "Looking forward to hearing from you.",
    "Thank you for your time.",
    "I look forward to your reply.",
    "Please let me know.",
    "Thanks so much for looking into this.",
    "Your help is appreciated.",
    "Let me know if you need anything else from me.",
    "Please advise.",
    "Thank you very much for your help.",
]
SIGNOFFS = [
    "Thanks,",
    "Thank you,",
    "Best regards,",
    "Kind regards,",
    "Regards,",
    "Best,",
    "Cheers,",
    "Many thanks,",
    "Sincerely,",
    "Warm regards,",
    "Thanks!",
    "Best wishes,",
    "All the best,",
    "Thanks again,",
    "With kind regards,",
    "Yours sincerely,",
]
MOBILE = [
    "Sent from my iPhone",
    "Sent from my Samsung Galaxy smartphone.",
    "Get Outlook for iOS",
    "Sent from my iPad",
    "Sent from Mail for Windows",
    "Sent from Yahoo Mail on Android",
    "Sent via the Samsung Email app",
]
DISCLAIMERS = [
    "CONFIDENTIALITY NOTICE: This e-mail message, including any attachments, is for the sole use "
    "of the intended recipient(s) and may contain confidential and privileged information. Any "
    "unauthorized review, use, disclosure or distribution is prohibited.",
    "This email and any files transmitted with it are confidential and intended solely for the "
    "use of the individual or entity to whom they are addressed. If you have received this email "
    "in error please notify the system manager.",
    "DISCLAIMER: The information contained in this message is intended only for the recipient, "
    "and may be a confidential attorney-client communication or may otherwise be privileged.",
    "Please consider the environment before printing this e-mail.",
    "The information in this email is confidential and may be legally privileged. It is intended "
    "solely for the addressee. Access to this email by anyone else is unauthorised.",
    "{company} is registered in England and Wales under company number 0{num}. Registered office: "
    "{house} {street}, {city}.",
]
AGENT_REPLIES = [
    "Thank you for contacting {support}. We have received your request and a member of our team "
    "will get back to you within 24 hours.",
    "Could you please send us your account number and a screenshot of the error so we can look "
    "into this further?",
    "We're sorry for the trouble. Our engineers are aware of the issue and are working on a fix.",
    "Your ticket has been escalated to our second-line team. Reference number {num}.",
    "Have you tried logging out and back in again? Let us know if the problem persists.",
    "Thanks for reaching out! Can you confirm the email address linked to your account?",
    "We have processed your request. Is there anything else we can help you with today?",
]
DATES = [
    "Mon, 3 Nov 2025 at 10:02",
    "Tue, Mar 4, 2025 at 9:14 AM",
    "12/02/2025 14:31",
    "Friday, 7 February 2025 16:05",
    "2025-01-15 08:47",
    "Wed, Jun 11, 2025, 3:22 PM",
]


def _phone(rng: random.Random) -> str:
    d = [str(rng.randint(0, 9)) for _ in range(12)]
    style = rng.randrange(6)
    if style == 0:
        return f"+44 20 {''.join(d[:4])} {''.join(d[4:8])}"
    if style == 1:
        return f"({rng.randint(200, 989)}) {''.join(d[:3])}-{''.join(d[3:7])}"
    if style == 2:
        return f"+1-{rng.randint(200, 989)}-{''.join(d[:3])}-{''.join(d[3:7])}"
    if style == 3:
        return f"+49 (0)30 {''.join(d[:8])}"
    if style == 4:
        return f"0{''.join(d[:4])} {''.join(d[4:10])}"
    return f"+33 6 {' '.join(''.join(d[i : i + 2]) for i in range(0, 8, 2))}"


class NoiseGenerator:
    """Seeded generator of support e-mails around a given customer sentence."""

    def __init__(self, seed: int = 7) -> None:
        self.rng = random.Random(seed)

    def _fill(self, template: str, person: dict[str, str]) -> str:
        r = self.rng
        return template.format(
            support=r.choice(["Acme", "ShopCo", "BankCo", "the support", "Customer Care"]),
            agent=r.choice(FIRST),
            company=person["company"],
            num=r.randint(1_000_000, 9_999_999),
            house=r.randint(1, 250),
            street=r.choice(STREET),
            city=r.choice(CITY),
        )

    def _signature(self, person: dict[str, str]) -> list[str]:
        r = self.rng
        lines = [person["name"] if r.random() < 0.8 else person["first"]]
        if r.random() < 0.5:
            lines.append(r.choice(TITLE))
        if r.random() < 0.5:
            lines.append(person["company"])
        if r.random() < 0.6:
            label = r.choice(["Tel: ", "Phone: ", "M: ", "Mobile: ", "T ", "Direct: ", "", "p. "])
            lines.append(label + _phone(r))
        if r.random() < 0.3:
            lines.append(r.choice(["Email: ", "E: ", ""]) + person["email"])
        if r.random() < 0.35:
            lines.append(f"{r.randint(1, 250)} {r.choice(STREET)}, {r.choice(CITY)}")
        if r.random() < 0.2:
            lines.append(f"www.{person['company'].split()[0].lower()}.example.com")
        if r.random() < 0.15:
            r.shuffle(lines[1:])
        if r.random() < 0.15:
            lines.insert(0, "--")
        return lines

    def _quote(self, person: dict[str, str], html_mode: bool) -> list[str]:
        r = self.rng
        agent = f"{r.choice(FIRST)} {r.choice(LAST)}"
        reply = self._fill(r.choice(AGENT_REPLIES), person)
        style = r.randrange(4)
        if style == 0:
            header = [f"On {r.choice(DATES)}, {agent} <support@{r.choice(DOMAIN)}> wrote:"]
        elif style == 1:
            header = [
                "-----Original Message-----",
                f"From: {agent} [mailto:help@{r.choice(DOMAIN)}]",
                f"Sent: {r.choice(DATES)}",
                f"To: {person['name']}",
                "Subject: RE: your request",
            ]
        elif style == 2:
            header = [
                "________________________________",
                f"From: {agent} <{r.choice(DOMAIN)}>",
                f"Sent: {r.choice(DATES)}",
                f"To: {person['email']}",
                "Subject: Re: Support request",
            ]
        else:
            header = [f"On {r.choice(DATES)}, {agent} wrote:"]
        if html_mode:
            return [*header, "<blockquote>", reply, f"{agent}", "</blockquote>"]
        body = [reply, "", r.choice(["Kind regards,", "Best,", "Thanks,"]), agent]
        if style in (0, 3):
            body = [f"> {line}" if line else ">" for line in body]
        return header + body

    def wrap(self, text: str) -> str:
        """One support e-mail whose only issue-bearing sentence is ``text``."""
        r = self.rng
        first, last = r.choice(FIRST), r.choice(LAST)
        person = {
            "first": first,
            "name": f"{first} {last}",
            "company": r.choice(COMPANY),
            "email": f"{first.lower()}.{last.lower().replace(chr(39), '')}@{r.choice(DOMAIN)}",
        }
        html_mode = r.random() < 0.15
        lines: list[str] = []
        if r.random() < 0.85:
            lines += [self._fill(r.choice(GREETINGS), person), ""]
        body = text[0].upper() + text[1:] if r.random() < 0.5 else text
        if r.random() < 0.35:
            body = (
                f"{r.choice(OPENERS)} {body}"
                if r.random() < 0.5
                else f"{r.choice(OPENERS)}\n\n{body}"
            )
        if not body.endswith((".", "?", "!")) and r.random() < 0.6:
            body += r.choice([".", "?", "!"])
        if r.random() < 0.12:
            body += f" You can reach me on {_phone(r)}."
        lines.append(body)
        if r.random() < 0.5:
            lines += ["", r.choice(CLOSERS)]
        if r.random() < 0.75:
            lines += ["", r.choice(SIGNOFFS)]
            lines += self._signature(person)
        elif r.random() < 0.5:
            lines += ["", *self._signature(person)]
        if r.random() < 0.2:
            lines += ["", r.choice(MOBILE)]
        if r.random() < 0.25:
            lines += ["", self._fill(r.choice(DISCLAIMERS), person)]
        if r.random() < 0.4:
            lines += ["", *self._quote(person, html_mode)]
        if html_mode:
            inner = "".join(f"<p>{ln}</p>" if ln and not ln.startswith("<") else ln for ln in lines)
            return f"<html><head><style>p{{margin:0}}</style></head><body>{inner}</body></html>"
        return "\n".join(lines)


def load_sample(limit: int, seed: int) -> tuple[list[str], list[str]]:
    """A sample of about ``limit`` rows with the same number per intent, in a seeded order."""
    by_intent: dict[str, list[str]] = defaultdict(list)
    with gzip.open(CLINC, "rt", encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            by_intent[row["intent"]].append(row["text"])
    rng = random.Random(seed)
    per = max(1, limit // len(by_intent))
    pairs = [
        (t, intent)
        for intent in sorted(by_intent)
        for t in rng.sample(by_intent[intent], min(per, len(by_intent[intent])))
    ]
    rng.shuffle(pairs)
    return [t for t, _ in pairs], [g for _, g in pairs]


def _embed(embedder: object, texts: list[str], name: str, cache_dir: Path | None) -> np.ndarray:
    key = hashlib.sha256("\x1e".join(texts).encode()).hexdigest()[:16]
    path = cache_dir / f"{name}-{key}.npy" if cache_dir else None
    if path is not None and path.exists():
        return np.load(path)
    vectors = embedder.encode(texts)  # type: ignore[attr-defined]
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.save(path, vectors)
    return vectors


def main(argv: list[str] | None = None) -> dict[str, object]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=6000, help="rows, stratified by intent")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--cache-dir", type=Path, default=None, help="where vectors are cached (.npy)"
    )
    parser.add_argument(
        "--show", type=int, default=0, help="print N wrapped/cleaned examples to stderr"
    )
    args = parser.parse_args(argv)

    from rootline.clustering.cluster import DensityClusterer
    from rootline.clustering.embedding import SentenceTransformerEmbedder
    from rootline.clustering.metrics import score_themes
    from rootline.ingest.cleaning import clean_text

    texts, gold = load_sample(args.limit, args.seed)
    noise = NoiseGenerator(args.seed)
    wrapped = [noise.wrap(t) for t in texts]
    started = time.perf_counter()
    cleaned = [clean_text(w) for w in wrapped]
    clean_seconds = time.perf_counter() - started
    for i in range(args.show):
        print(f"--- {gold[i]}\n{wrapped[i]}\n=> {cleaned[i]}\n", file=sys.stderr)

    embedder = SentenceTransformerEmbedder()
    result: dict[str, object] = {
        "rows": len(texts),
        "intents": len(set(gold)),
        "seed": args.seed,
        "model": embedder.slug,
        "clean_ms_per_text": round(1000 * clean_seconds / len(texts), 3),
    }
    for name, variant in (("clean", texts), ("wrapped", wrapped), ("cleaned", cleaned)):
        vectors = _embed(embedder, variant, name, args.cache_dir)
        fit = DensityClusterer().fit(vectors)
        themes = [int(t) if t >= 0 else None for t in fit.labels]
        result[name] = score_themes(gold, themes)
    nmi = {k: result[k]["nmi"] for k in ("clean", "wrapped", "cleaned")}  # type: ignore[index]
    result["nmi_gap_wrapped"] = round(nmi["clean"] - nmi["wrapped"], 4)
    result["nmi_gap_cleaned"] = round(nmi["clean"] - nmi["cleaned"], 4)
    result["target_met"] = result["nmi_gap_cleaned"] <= 0.02  # type: ignore[operator]
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
