"""Accessibility of every page: labelled controls, one main landmark and heading, a language,
text alternatives, and a skip link for keyboard users. Checked on the parsed HTML of each page
as an admin sees it (admins see every control)."""
# The app, client and data fixtures are shared with test_web_pages by importing them, which
# ruff reads as redefinitions when tests take them as arguments.
# ruff: noqa: F811

from __future__ import annotations

import pytest
from bs4 import BeautifulSoup, Tag
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from rootline.ingest.models import Customer, Interaction
from rootline.rootcause.service import create_problem
from tests.test_web_pages import (  # noqa: F401  (fixtures)
    Seeded,
    anonymous,
    app,
    client,
    data,
)

#: Inputs a person never fills in, so they need no label.
UNLABELLED_TYPES = {"hidden", "submit", "button", "reset", "image"}


def _name_of(control: Tag, soup: BeautifulSoup) -> str:
    """The accessible name of a form control, the way assistive technology works it out."""
    for attr in ("aria-label", "title"):
        if control.get(attr, "").strip():
            return str(control[attr]).strip()
    if control.get("aria-labelledby"):
        parts = [soup.find(id=i) for i in str(control["aria-labelledby"]).split()]
        return " ".join(p.get_text(" ", strip=True) for p in parts if p is not None)
    if control.get("id"):
        label = soup.find("label", attrs={"for": control["id"]})
        if label is not None:
            return label.get_text(" ", strip=True)
    wrapper = control.find_parent("label")
    return wrapper.get_text(" ", strip=True) if wrapper is not None else ""


def problems_in(soup: BeautifulSoup) -> list[str]:
    """What a screen-reader or keyboard user would trip over on one page."""
    found = []
    html = soup.find("html")
    if html is None or not html.get("lang"):
        found.append("<html> has no lang")
    if len(soup.find_all("main")) != 1:
        found.append("not exactly one <main>")
    if not soup.find("h1"):
        found.append("no <h1>")
    if not (soup.title and soup.title.get_text(strip=True)):
        found.append("no <title>")
    skip = soup.select_one('a[href^="#"]')
    if skip is None or soup.find(id=skip["href"][1:]) is None:
        found.append("no skip link to the content")
    for control in soup.find_all(["input", "select", "textarea"]):
        if control.name == "input" and control.get("type", "text") in UNLABELLED_TYPES:
            continue
        if not _name_of(control, soup):
            found.append(f"unlabelled {control.name} name={control.get('name')!r}")
    for button in soup.find_all("button"):
        if not (button.get_text(strip=True) or button.get("aria-label") or button.get("title")):
            found.append(f"button without text: {button}")
    for img in soup.find_all("img"):
        if img.get("alt") is None:
            found.append(f"image without alt: {img.get('src')}")
    for svg in soup.find_all("svg"):
        named = svg.get("aria-label") or svg.find("title") or svg.get("aria-labelledby")
        if not named and svg.get("aria-hidden") != "true":
            found.append("chart without a text alternative")
    ids = [t["id"] for t in soup.find_all(id=True)]
    found += [f"duplicate id {i!r}" for i in sorted({i for i in ids if ids.count(i) > 1})]
    return found


def _pages(session: Session, data: Seeded) -> list[str]:
    problem = create_problem(session, [data.card], title="Cards declined", actor="t")
    member = session.query(Interaction).filter(Interaction.external_id.like("W%")).first()
    customer = Customer(name="Ada Lovelace", segment="gold", value=1200.0)
    session.add(customer)
    session.flush()
    if member is not None:
        member.customer_id = customer.id
    session.flush()
    return [
        "/themes",
        f"/themes/{data.card}",
        f"/themes/{data.retired}",
        "/problems",
        f"/problems/{problem.id}",
        "/tasks",
        "/backlog",
        f"/customers/{customer.id}",
        "/search?q=card",
        "/search",
        "/admin",
        "/desk",
        *([f"/contacts/{member.id}"] if member is not None else []),
        "/governance",
        "/governance/review",
        "/knowledge",
        "/knowledge?q=card",
        "/impact",
        "/impact?by=channel",
        "/forecast",
        "/service",
        "/accounts",
        "/impact/weights",
    ]


def test_every_page_is_usable_with_a_screen_reader_and_keyboard(
    client: TestClient, session: Session, data: Seeded
) -> None:
    report = {}
    for url in _pages(session, data):
        response = client.get(url)
        assert response.status_code == 200, url
        found = problems_in(BeautifulSoup(response.text, "html.parser"))
        if found:
            report[url] = found
    assert not report, report


def test_the_sign_in_page_is_labelled(anonymous: TestClient) -> None:
    soup = BeautifulSoup(anonymous.get("/login").text, "html.parser")
    assert problems_in(soup) == []
    assert {_name_of(c, soup) for c in soup.select("input[name=email], input[name=password]")}


@pytest.mark.parametrize(
    "html,expected",
    [
        ('<input name="q">', "unlabelled input name='q'"),
        ('<label for="q">Search</label><input id="q" name="q">', None),
        ('<label>Search <input name="q"></label>', None),
        ('<select name="s" aria-label="State"></select>', None),
        ("<button></button>", "button without text"),
        ('<img src="a.png">', "image without alt"),
    ],
)
def test_the_checks_catch_what_they_claim(html: str, expected: str | None) -> None:
    page = (
        '<html lang="en"><head><title>t</title></head><body><a href="#main">Skip</a>'
        f'<main id="main"><h1>T</h1>{html}</main></body></html>'
    )
    found = problems_in(BeautifulSoup(page, "html.parser"))
    if expected is None:
        assert found == []
    else:
        assert any(f.startswith(expected) for f in found), found
