"""Triage of a contact that has just arrived: its theme, problem, workaround and neighbours."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field

from rootline.web.deps import SessionDep, get_embedder
from rootline.web.refusals import COMMON, refusals

__all__ = ["router"]

api = APIRouter(tags=["triage"], responses=COMMON)


class TriageIn(BaseModel):
    """A new contact's words and, if known, who wrote them."""

    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1, max_length=20_000)
    subject: str | None = Field(
        default=None, max_length=1000, description="The subject line, as ingest would read it."
    )
    customer_email: str | None = Field(default=None, max_length=320)


@api.post(
    "/api/triage",
    responses=refusals(400, s400="No themes yet, or the body could not be read."),
    name="api_triage",
)
def triage_api(
    request: Request,
    body: TriageIn,
    session: SessionDep,
    embedder: Annotated[Any, Depends(get_embedder)],
) -> dict[str, Any]:
    """The theme a new contact belongs to (``theme_id`` null: new, no theme yet) with its
    confidence, the theme's open problem and published workaround, its three most similar
    resolved contacts, and the customer's recent contacts and open problems."""
    from rootline.rootcause.triage import triage

    return triage(
        session,
        embedder,
        body.text,
        customer_email=body.customer_email,
        redact=request.app.state.settings.redact_pii,
        subject=body.subject,
    ).as_dict()


router = APIRouter()
router.include_router(api)
