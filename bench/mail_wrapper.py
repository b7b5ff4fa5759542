"""A second e-mail wrapper, written apart from ``cleaning_noise.NoiseGenerator``.

Its own greetings, sign-offs, signature layouts, forwarded-message headers, disclaimers,
mobile and webmail footers, and the account details customers add to a message ("My card ends
in 1234 and my account email is ..."), placed before or after the customer's sentence. It
shares no phrase list with the first wrapper or with ``rootline.ingest.cleaning``, so cleaning
is measured on mail neither was written against.
"""

from __future__ import annotations

import random

__all__ = ["SecondWrapper"]

_NAMES = [
    ("Bjorn", "Halvorsen"),
    ("Carmen", "Ruiz"),
    ("Dmitri", "Volkov"),
    ("Esther", "Okafor"),
    ("Farid", "Haddad"),
    ("Greta", "Lindqvist"),
    ("Hiro", "Tanaka"),
    ("Imogen", "Price"),
    ("Jonas", "Weber"),
    ("Keiko", "Mori"),
    ("Lars", "Nilsen"),
    ("Marta", "Kowalska"),
    ("Nadia", "Benali"),
    ("Oscar", "Lund"),
    ("Paula", "Ferreira"),
    ("Quinn", "Doyle"),
    ("Rosa", "Bianchi"),
    ("Samir", "Khan"),
    ("Tess", "Morgan"),
    ("Viktor", "Novak"),
]
_OPENINGS = [
    "Good morning team,",
    "Good afternoon,",
    "To whom it may concern,",
    "Hey there,",
    "Hiya,",
    "Dear Sir or Madam,",
    "Hello support team,",
    "Greetings,",
    "Morning all,",
    "Hi folks,",
]
_PREAMBLES = [
    "Hope you're all well.",
    "Sorry to bother you again.",
    "I'm writing about my account.",
    "Quick question for you.",
    "Long-time customer here.",
    "First time contacting you.",
]
_ACCOUNT = [
    "My card ends in {d4} and my account email is {email}.",
    "Customer number: {d8}.",
    "Account ref {d6}, registered to {email}.",
    "For reference my member ID is {d7}.",
    "My account is under {email}, phone {phone}.",
    "Policy no. {d8}.",
    "The account holder is {full}, DOB {dd}/{mm}/19{yy}.",
]
_CLOSINGS = [
    "Cheers.",
    "Cheers,",
    "Ta,",
    "Many thanks in advance!",
    "Speak soon,",
    "Looking forward to hearing from you.",
    "All the best,",
    "Warmest wishes,",
    "Respectfully,",
    "Much appreciated.",
]
_ROLES = ["Operations Lead", "Freelance Designer", "Head of Finance", "Student", "Office Manager"]
_ORGS = ["Northwind Traders", "Bluefin Studio", "Keller & Sons", "Orbit Analytics", "Pine Labs"]
_FOOTERS = [
    "Sent from Outlook for Android",
    "Get Outlook for iOS",
    "Sent from Yahoo Mail on Android",
    "Sent via the Samsung Galaxy smartphone.",
    "Sent from my Huawei phone",
]
_DISCLAIMERS = [
    "CONFIDENTIALITY NOTICE: The contents of this email message and any attachments are "
    "intended solely for the addressee(s) and may contain confidential information.",
    "This message has been scanned for viruses and dangerous content and is believed to be clean.",
    "Please consider the environment before printing this e-mail.",
    "{org} is registered in England and Wales under company number {d8}. Registered office: "
    "{d2} Market Street, Leeds.",
]


class SecondWrapper:
    """Seeded generator of support e-mails around a customer's sentence."""

    def __init__(self, seed: int = 11) -> None:
        self.rng = random.Random(seed)

    def _digits(self, n: int) -> str:
        return "".join(str(self.rng.randint(0, 9)) for _ in range(n))

    def _fill(self, template: str, first: str, last: str, email: str, org: str) -> str:
        r = self.rng
        return template.format(
            d2=self._digits(2),
            d4=self._digits(4),
            d6=self._digits(6),
            d7=self._digits(7),
            d8=self._digits(8),
            dd=f"{r.randint(1, 28):02d}",
            mm=f"{r.randint(1, 12):02d}",
            yy=f"{r.randint(50, 99)}",
            email=email,
            full=f"{first} {last}",
            phone=f"07{self._digits(3)} {self._digits(6)}",
            org=org,
        )

    def _forwarded(self, first: str, last: str, email: str) -> list[str]:
        r = self.rng
        day = f"{r.choice(['Mon', 'Tue', 'Wed', 'Thu', 'Fri'])}, {r.randint(1, 28)} Mar 2026"
        return [
            "---------- Forwarded message ---------",
            f"From: {first} {last} <{email}>",
            f"Date: {day} at {r.randint(8, 18)}:{r.randint(10, 59)}",
            f"Subject: Fwd: {r.choice(['help', 'issue', 'my order', 'complaint', 'question'])}",
            "To: <helpdesk@example.org>",
            "",
        ]

    def wrap(self, text: str) -> str:
        """One e-mail whose only issue-bearing sentence is ``text``."""
        r = self.rng
        first, last = r.choice(_NAMES)
        org = r.choice(_ORGS)
        email = f"{first[0].lower()}{last.lower()}{r.randint(1, 99)}@{r.choice(['mail.example', 'inbox.example', 'post.example'])}.com"
        lines: list[str] = []
        if r.random() < 0.25:
            lines += self._forwarded(first, last, email)
        if r.random() < 0.8:
            lines += [r.choice(_OPENINGS), ""]
        body = text[0].upper() + text[1:]
        if not body.endswith((".", "?", "!")):
            body += r.choice([".", "?", "!", ""])
        parts = [body]
        if r.random() < 0.3:
            parts.insert(0, r.choice(_PREAMBLES))
        if r.random() < 0.6:
            details = self._fill(r.choice(_ACCOUNT), first, last, email, org)
            if r.random() < 0.5:
                parts.append(details)
            else:
                parts.insert(0, details)
        lines.append(" ".join(parts))
        if r.random() < 0.8:
            lines += ["", r.choice(_CLOSINGS)]
            lines.append(first if r.random() < 0.5 else f"{first} {last}")
            if r.random() < 0.4:
                lines.append(f"{r.choice(_ROLES)} | {org}")
            if r.random() < 0.3:
                lines.append(f"m: 07{self._digits(3)} {self._digits(6)} | e: {email}")
        if r.random() < 0.3:
            lines += ["", r.choice(_FOOTERS)]
        if r.random() < 0.3:
            lines += ["", self._fill(r.choice(_DISCLAIMERS), first, last, email, org)]
        return "\n".join(lines)
