"""Synthetic help-desk contacts for the scale benchmark: varied enough that few texts repeat.

Each contact is one of 40 issues, said in one of its phrasings, with slot values (order
numbers, products, amounts, days, devices, places), an optional opening and closing clause,
and light noise (a typo, lower case, a missing full stop), then wrapped in e-mail dressing
(greeting, sign-off, quoted reply) that cleaning removes. The issue is kept as the gold
``intent`` column. Texts repeat rarely, as in a real help desk, so the embedding cache does
not collapse a million contacts into a few dozen texts; ``unique_texts`` counts them.

The benchmark scripts run as ``python bench/NAME.py``, so they import this module by its name.
"""

from __future__ import annotations

import csv
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

from ingest_speed import CHANNELS, GREETINGS, SIGNOFFS

__all__ = ["INTENTS", "write_contacts"]

SLOTS: dict[str, list[str]] = {
    "product": (
        "blue running shoes|wireless headphones|coffee machine|winter jacket|desk lamp|"
        "phone case|yoga mat|kettle|backpack|smart watch|air fryer|bluetooth speaker|"
        "office chair|kids bike|rain boots|gaming mouse|electric toothbrush|bed sheets"
    ).split("|"),
    "day": "monday|tuesday|wednesday|thursday|friday|saturday|sunday|last week|yesterday".split(
        "|"
    ),
    "device": "android phone|iphone|ipad|samsung tablet|windows laptop|macbook|pixel".split("|"),
    "browser": "chrome|firefox|safari|edge|the app".split("|"),
    "place": "leeds|the warehouse|my neighbour|the post office|the front door|the locker".split(
        "|"
    ),
    "method": "visa card|mastercard|paypal|apple pay|gift card|bank transfer|klarna".split("|"),
    "plan": "monthly plan|annual plan|premium plan|family plan|student plan".split("|"),
}

#: Issue name -> phrasings. Slots are {order}, {amount}, {n} and the names in ``SLOTS``.
INTENTS: dict[str, list[str]] = {
    "password_reset": [
        "my password reset email never arrives, I tried {n} times",
        "the reset link in the email says it has expired",
        "I cannot reset my password, no email comes through",
        "forgot password does nothing when I press it on {browser}",
    ],
    "card_declined": [
        "my {method} was declined at checkout although the bank says it is fine",
        "payment with {method} keeps failing for order {order}",
        "checkout says payment declined every time I try to pay {amount}",
    ],
    "late_parcel": [
        "order {order} is late and tracking has not moved since {day}",
        "my {product} was due {day} and still has not arrived",
        "parcel {order} has been stuck in transit for a week",
    ],
    "refund_missing": [
        "I returned the {product} on {day} but the refund of {amount} has not come",
        "still waiting for my refund for order {order}",
        "the refund for the {product} is not on my {method} yet",
    ],
    "app_crash": [
        "the app crashes every time I open the orders screen on my {device}",
        "app keeps closing on my {device} after the update",
        "the app freezes on the loading screen on {device}",
    ],
    "promo_code": [
        "promo code SAVE{n} says invalid although the sale is on",
        "my discount code was not applied to order {order}",
        "voucher for {amount} off does not work at checkout",
    ],
    "double_charge": [
        "I was charged twice for order {order}, please refund one payment",
        "two payments of {amount} were taken from my {method}",
        "my {method} shows the same charge twice for the {product}",
    ],
    "change_address": [
        "I need to change the delivery address for order {order}",
        "can I send order {order} to {place} instead",
        "wrong address on my order, please update it before it ships",
    ],
    "invoice_pdf": [
        "the invoice PDF download gives a blank page in {browser}",
        "I cannot download the invoice for order {order}",
        "please send me a VAT invoice for the {product}",
    ],
    "cancel_subscription": [
        "how do I cancel my {plan} before the next renewal",
        "please cancel my subscription, I no longer need the {plan}",
        "I want to stop the automatic renewal of my {plan}",
    ],
    "damaged_item": [
        "the {product} arrived damaged, the box was crushed",
        "my {product} came broken, what do I do",
        "item from order {order} is cracked and unusable",
    ],
    "wrong_item": [
        "I ordered a {product} but received something else",
        "wrong item in order {order}, I got a {product} instead",
        "the parcel had the wrong size of {product}",
    ],
    "missing_item": [
        "order {order} arrived with the {product} missing",
        "one item is missing from my parcel",
        "only part of order {order} was delivered",
    ],
    "account_locked": [
        "my account is locked after {n} failed logins",
        "I am locked out of my account and cannot sign in",
        "account suspended message when I try to log in on {browser}",
    ],
    "two_factor": [
        "I do not get the verification code by text message",
        "the two factor code is always rejected on my {device}",
        "lost my phone and cannot get the login code",
    ],
    "delivery_left": [
        "the courier says delivered but nothing was left at {place}",
        "tracking shows delivered {day} but I have no parcel",
        "my parcel was left at {place} without asking",
    ],
    "price_match": [
        "the {product} is cheaper elsewhere, can you match the price",
        "price dropped by {amount} a day after I bought the {product}",
        "do you price match for the {product}",
    ],
    "stock_question": [
        "when will the {product} be back in stock",
        "is the {product} available in another colour",
        "the {product} shows out of stock for {n} weeks",
    ],
    "return_label": [
        "how do I print a return label for the {product}",
        "the returns page gives an error when I ask for a label",
        "I have no printer, can I return order {order} without a label",
    ],
    "exchange_size": [
        "can I exchange the {product} for a bigger size",
        "I need a smaller size of the {product} from order {order}",
        "how do exchanges work for the {product}",
    ],
    "gift_card_balance": [
        "my gift card balance shows zero but I had {amount} on it",
        "gift card is not accepted at checkout",
        "how do I check the balance on my gift card",
    ],
    "loyalty_points": [
        "my loyalty points from order {order} were not added",
        "I lost {n} points after the last update",
        "points do not show on my account since {day}",
    ],
    "newsletter_unsubscribe": [
        "I keep getting marketing emails after unsubscribing",
        "please remove me from the newsletter",
        "the unsubscribe link in your email does not work",
    ],
    "delete_account": [
        "please delete my account and all my data",
        "how do I close my account for good",
        "I want you to erase my personal data",
    ],
    "website_slow": [
        "the website is very slow on {browser} today",
        "pages take ages to load and the basket times out",
        "site keeps showing an error 502 when I search",
    ],
    "basket_empty": [
        "my basket empties itself when I log in",
        "items disappear from my basket on {browser}",
        "the {product} vanished from my basket before I paid",
    ],
    "warranty_claim": [
        "my {product} stopped working after {n} months, is it under warranty",
        "how do I make a warranty claim for the {product}",
        "the {product} broke and I want a repair under guarantee",
    ],
    "installation_help": [
        "I need help setting up the {product}",
        "the instructions for the {product} are missing",
        "how do I connect the {product} to my {device}",
    ],
    "order_cancel": [
        "please cancel order {order}, I ordered by mistake",
        "can I still cancel order {order} before it ships",
        "I cancelled order {order} but it was still sent",
    ],
    "payment_plan": [
        "can I pay for the {product} in instalments with {method}",
        "my {method} instalment was taken twice",
        "I was refused pay later at checkout",
    ],
    "courier_rude": [
        "the delivery driver was rude and threw the parcel",
        "courier left my {product} in the rain at {place}",
        "the driver did not ring and left a card",
    ],
    "collection_point": [
        "my parcel went to the wrong collection point",
        "the locker code for order {order} does not open the door",
        "I cannot find the pickup point in {place}",
    ],
    "email_change": [
        "how do I change the email address on my account",
        "I no longer use my old email, please update it",
        "changing my email gives an error",
    ],
    "receipt_missing": [
        "I did not get an order confirmation for order {order}",
        "no receipt email after paying {amount}",
        "where can I find the receipt for my {product}",
    ],
    "subscription_charge": [
        "I was charged {amount} for the {plan} after I cancelled",
        "my {plan} renewed without a reminder",
        "why did the price of my {plan} go up",
    ],
    "student_discount": [
        "my student discount is not verified",
        "the student code stopped working after {day}",
        "can I add the student discount to order {order}",
    ],
    "store_hours": [
        "what are the opening hours of the store in {place}",
        "is the shop in {place} open on {day}",
        "can I collect in store on {day}",
    ],
    "product_recall": [
        "is my {product} part of the recall",
        "I got a recall notice for the {product}, what now",
        "how do I return a recalled {product}",
    ],
    "delivery_fee": [
        "why was I charged {amount} for delivery",
        "free delivery was not applied to order {order}",
        "the delivery fee changed at checkout",
    ],
    "chat_not_working": [
        "the live chat does not load on {browser}",
        "chat window closes before an agent answers",
        "I waited {n} minutes in the chat queue",
    ],
}

OPENINGS = [
    "",
    "",
    "",
    "quick question:",
    "I need help,",
    "this is urgent,",
    "sorry to bother you but",
    "I already wrote about this,",
    "hope you can help:",
]
CLOSINGS = [
    "",
    "",
    "",
    "please help",
    "can you look into it",
    "this is the second time I ask",
    "I would like an answer today",
    "thank you in advance",
    "not happy about this",
    "let me know what to do",
]


def _typo(text: str, rng: random.Random) -> str:
    """Swap two neighbouring letters of one word, as a hurried writer does."""
    words = text.split(" ")
    candidates = [i for i, w in enumerate(words) if len(w) > 4 and w.isalpha()]
    if not candidates:
        return text
    i = rng.choice(candidates)
    w = words[i]
    j = rng.randrange(1, len(w) - 2)
    words[i] = w[:j] + w[j + 1] + w[j] + w[j + 2 :]
    return " ".join(words)


def issue_text(intent: str, rng: random.Random) -> str:
    """One customer's words about ``intent``: a phrasing, slot values, clauses and noise."""
    text = rng.choice(INTENTS[intent]).format(
        order=f"{rng.choice('ABCDEFGH')}{rng.randint(100000, 999999)}",
        amount=f"£{rng.randint(3, 400)}.{rng.choice(['00', '99', '50', '49'])}",
        n=rng.randint(2, 30),
        **{slot: rng.choice(values) for slot, values in SLOTS.items()},
    )
    opening, closing = rng.choice(OPENINGS), rng.choice(CLOSINGS)
    text = " ".join(p for p in (opening, text) if p)
    if closing:
        text = f"{text}. {closing}"
    if rng.random() < 0.25:
        text = _typo(text, rng)
    text = text[0].upper() + text[1:] if rng.random() < 0.7 else text.lower()
    return text if rng.random() < 0.3 else text + rng.choice([".", "!", "?", " !!"])


def write_contacts(
    path: Path, rows: int, *, seed: int = 1, first_id: int = 0, days: int = 180
) -> int:
    """Write ``rows`` contacts as a help-desk CSV export; returns how many texts are distinct.

    Contacts spread evenly over ``days`` days up to 2026-11-01 (in id order), one customer per
    ~20 contacts (so repeat contacts exist), issue sizes Zipf-like (the largest issue holds
    about 13% of contacts, the smallest 0.6%). ``first_id`` numbers the tickets, so a second
    file with another seed and ``first_id`` adds new contacts.
    """
    rng = random.Random(seed)
    names = list(INTENTS)
    weights = [1 / (rank + 3) for rank in range(len(names))]
    end = datetime(2026, 11, 1, tzinfo=UTC)
    step = timedelta(days=days) / max(rows, 1)
    start = end - timedelta(days=days)
    customers = max(1, (first_id + rows) // 20)
    seen: set[int] = set()
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(
            [
                "ticket_id",
                "created_at",
                "channel",
                "customer_email",
                "subject",
                "description",
                "csat",
                "intent",
            ]
        )
        for i in range(rows):
            intent = rng.choices(names, weights)[0]
            issue = issue_text(intent, rng)
            seen.add(hash(issue))
            who = rng.randrange(customers)
            body = "\n\n".join(
                p
                for p in (
                    rng.choice(GREETINGS),
                    issue,
                    rng.choice(SIGNOFFS).format(name=f"Customer {who}", d=i % 10000),
                    "On Mon, 3 Nov 2026 at 10:02, Support <help@shop.example> wrote:\n> Thanks for "
                    "contacting us."
                    if rng.random() < 0.3
                    else "",
                )
                if p
            )
            w.writerow(
                [
                    f"S{first_id + i:08d}",
                    (start + step * i).isoformat(),
                    rng.choice(CHANNELS),
                    f"user{who}@example.com",
                    "",
                    body,
                    rng.choice(["", "1", "2", "3", "4", "5"]),
                    intent,
                ]
            )
    return len(seen)
