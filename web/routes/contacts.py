"""The agent's desk: a contact's page with its triage panel, and a desk to triage a new one.

The panel answers what an agent needs while the customer waits (``rootcause.triage``): the
theme, the open problem and its owners, the published workaround, similar resolved contacts
and the customer's recent contacts and open problems. The page and the desk read it through
the same service calls as ``POST /api/triage`` and ``GET /api/contacts/{id}/triage``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from starlette.responses import Response

from rootline.errors import InputError, NotFoundError, StateError
from rootline.ingest.models import Interaction
from rootline.rootcause.triage import Triage, triage, triage_contact
from rootline.web.deps import Renderer, RowId, SessionDep, get_embedder
from rootline.web.refusals import COMMON, refusals

__all__ = ["router"]

pages = APIRouter(include_in_schema=False)
api = APIRouter(tags=["triage"], responses=COMMON)

Embedder = Annotated[Any, Depends(get_embedder)]


@dataclass
class DeskContext:
    """What the desk and the panel show: the answer, or why there is none."""

    answer: Triage | None
    reason: str = ""
    text: str = ""
    customer_email: str = ""
    subject: str = ""


def _contact(session: SessionDep, interaction_id: RowId) -> Interaction:
    contact = session.get(Interaction, interaction_id)
    if contact is None:
        raise NotFoundError(f"no contact {interaction_id}")
    return contact


ContactDep = Annotated[Interaction, Depends(_contact)]


@pages.get("/contacts/{interaction_id}", name="contact_page")
def contact_page(
    session: SessionDep, render: Renderer, embedder: Embedder, contact: ContactDep
) -> Response:
    """One contact as the agent sees it, with the triage panel beside it."""
    try:
        desk = DeskContext(triage_contact(session, embedder, contact.id))
    except StateError as exc:
        desk = DeskContext(None, reason=str(exc))
    return render("contact.html", nav="desk", contact=contact, desk=desk)


@api.get(
    "/api/contacts/{interaction_id}/triage",
    responses=refusals(400, 404, s400="No themes yet.", s404="No contact with this id."),
    name="api_contact_triage",
)
def contact_triage_api(
    session: SessionDep, embedder: Embedder, contact: ContactDep
) -> dict[str, Any]:
    """The triage panel of a stored contact: the theme its run gave it (``placed_by`` "run"),
    or where the next incremental run would place it ("triage"), with the theme's open
    problem, workaround and similar resolved contacts, and the customer's other contacts."""
    return triage_contact(session, embedder, contact.id).as_dict()


@pages.get("/desk", name="desk_page")
def desk_page(render: Renderer) -> Response:
    """The agent's desk: type or paste what the customer says, get the known answer."""
    return render("desk.html", nav="desk", desk=DeskContext(None))


@pages.post("/desk", name="desk_triage")
def desk_triage(
    request: Request,
    session: SessionDep,
    render: Renderer,
    embedder: Embedder,
    text: Annotated[str, Form(max_length=20_000)] = "",
    customer_email: Annotated[str, Form(max_length=320)] = "",
    subject: Annotated[str, Form(max_length=1000)] = "",
) -> Response:
    """Triage the desk's text; htmx swaps in the panel only, a plain form gets the page."""
    desk = DeskContext(None, text=text, customer_email=customer_email, subject=subject)
    try:
        desk.answer = triage(
            session,
            embedder,
            text,
            customer_email=customer_email.strip() or None,
            redact=request.app.state.settings.redact_pii,
            subject=subject.strip() or None,
        )
    except (InputError, StateError) as exc:
        desk.reason = str(exc)
    if request.headers.get("hx-request"):
        return render("_triage_panel.html", desk=desk)
    return render("desk.html", nav="desk", desk=desk)


router = APIRouter()
router.include_router(pages)
router.include_router(api)
