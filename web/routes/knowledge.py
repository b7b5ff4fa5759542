"""The knowledge base: known errors and workarounds for everyone signed in, as pages and JSON.

Every role searches and reads (by words and by meaning); leads and the owners of an
article's problem edit it (each save is a revision) and propose articles from a theme's
typical contacts and its problem's fix.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import RedirectResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from rootline.rootcause.knowledge import (
    ArticleMatch,
    get_article,
    propose_article,
    revisions_of,
    save_article,
    search_articles,
    search_known_errors,
    theme_problem,
    themes_to_propose,
)
from rootline.rootcause.models import KnownError, KnownErrorRevision
from rootline.rootcause.service import get_problem
from rootline.web.deps import Renderer, RowId, SessionDep, flash, get_embedder
from rootline.web.permissions import CurrentUser, can_work_on, check_can_work_on
from rootline.web.refusals import COMMON, refusals

__all__ = ["router"]

pages = APIRouter(include_in_schema=False)
api = APIRouter(tags=["knowledge"], responses=COMMON)

Embedder = Annotated[Any, Depends(get_embedder)]
Query_ = Annotated[str, Query(max_length=200)]
Mode = Annotated[str, Query(pattern="^(both|keyword|semantic)$")]


def _article(session: SessionDep, article_id: RowId) -> KnownError:
    return get_article(session, article_id)


ArticleDep = Annotated[KnownError, Depends(_article)]


def _editable(session: SessionDep, user: CurrentUser, article: ArticleDep) -> KnownError:
    """The path's article, refused unless the user may work on its problem.

    Raises:
        NotFoundError: no such article.
        Forbidden: the article's problem is routed to teams the user is not in.
    """
    check_can_work_on(user, get_problem(session, article.problem_id))
    return article


EditableArticle = Annotated[KnownError, Depends(_editable)]


@dataclass
class KnowledgeContext:
    """The knowledge page: the query, what matched, and what may be proposed."""

    q: str
    mode: str
    agents: bool
    words: list[KnownError]
    meaning: list[ArticleMatch]
    proposable: list[tuple[int, str]] = field(default_factory=list)


def _find(
    session: SessionDep, embedder: Any, q: str, mode: str, agents: bool
) -> tuple[list[KnownError], list[ArticleMatch]]:
    query = q.strip()
    if not query:
        return search_known_errors(session, "", 100, public_only=agents), []
    words, meaning = search_articles(
        session, query, embedder if mode != "keyword" else None, public_only=agents
    )
    return ([] if mode == "semantic" else words), meaning


def _article_dict(
    article: KnownError, revisions: list[KnownErrorRevision] | None = None
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": article.id,
        "problem_id": article.problem_id,
        "title": article.title,
        "symptoms": article.symptoms,
        "cause": article.cause,
        "workaround": article.workaround,
        "fix": article.fix,
        "public": article.public,
        "revision": article.revision,
        "updated_by": article.updated_by,
        "updated_at": article.updated_at,
        "theme_ids": sorted(t.id for t in article.themes),
    }
    if revisions is not None:
        out["revisions"] = [
            {
                "revision": r.revision,
                "changed_by": r.changed_by,
                "changed_at": r.changed_at,
                "note": r.note,
                "title": r.title,
                "symptoms": r.symptoms,
                "cause": r.cause,
                "workaround": r.workaround,
                "fix": r.fix,
                "public": r.public,
            }
            for r in revisions
        ]
    return out


@pages.get("/knowledge", name="knowledge_page")
def knowledge_page(
    session: SessionDep,
    render: Renderer,
    embedder: Embedder,
    user: CurrentUser,
    q: Query_ = "",
    mode: Mode = "both",
    agents: bool = False,
) -> Response:
    """Search known errors and workarounds by words and by meaning; every article without a
    query, newest first."""
    words, meaning = _find(session, embedder, q, mode, agents)
    proposable = themes_to_propose(session) if user.role != "viewer" else []
    context = KnowledgeContext(q.strip(), mode, agents, words, meaning, proposable)
    return render("knowledge.html", nav="knowledge", kb=context)


@pages.post("/knowledge/propose", name="article_propose")
def article_propose(
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    theme_id: Annotated[int, Form(ge=1, le=2**63 - 1)],
) -> Response:
    """Draft an article from a theme's typical contacts and its problem's fix."""
    check_can_work_on(user, theme_problem(session, theme_id))
    article = propose_article(session, theme_id, actor=user.email)
    flash(request, f"Article {article.id} proposed from theme #{theme_id}.")
    return RedirectResponse(f"/knowledge/{article.id}", status_code=303)


@pages.get("/knowledge/{article_id}", name="article_page")
def article_page(
    session: SessionDep, render: Renderer, user: CurrentUser, article: ArticleDep
) -> Response:
    """One article: symptoms, cause, workaround and fix, its themes and problem, its history,
    and (for its problem's owners and leads) the edit form."""
    problem = get_problem(session, article.problem_id)
    return render(
        "article.html",
        nav="knowledge",
        article=article,
        problem=problem,
        revisions=revisions_of(session, article.id),
        editable=can_work_on(user, problem),
    )


@pages.post("/knowledge/{article_id}", name="article_save")
def article_save(
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    article: EditableArticle,
    revision: Annotated[int, Form(ge=0)],
    title: Annotated[str, Form(max_length=255)],
    symptoms: Annotated[str, Form(max_length=20_000)] = "",
    cause: Annotated[str, Form(max_length=20_000)] = "",
    workaround: Annotated[str, Form(max_length=20_000)] = "",
    fix: Annotated[str, Form(max_length=20_000)] = "",
    public: Annotated[bool, Form()] = False,
    note: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    """Save the edit form: a new revision when anything changed."""
    before = article.revision
    save_article(
        session,
        article.id,
        {
            "title": title,
            "symptoms": symptoms,
            "cause": cause,
            "workaround": workaround,
            "fix": fix,
            "public": public,
        },
        actor=user.email,
        expected_revision=revision,
        note=note,
    )
    saved = article.revision != before
    flash(request, f"Saved as revision {article.revision}." if saved else "Nothing changed.")
    return RedirectResponse(f"/knowledge/{article.id}", status_code=303)


class ArticleIn(BaseModel):
    """Changes to an article; fields left out stay as they are."""

    model_config = ConfigDict(extra="forbid")

    revision: int | None = Field(default=None, ge=0, description="The revision you edited.")
    title: str | None = Field(default=None, max_length=255)
    symptoms: str | None = Field(default=None, max_length=20_000)
    cause: str | None = Field(default=None, max_length=20_000)
    workaround: str | None = Field(default=None, max_length=20_000)
    fix: str | None = Field(default=None, max_length=20_000)
    public: bool | None = None
    note: str = Field(default="", max_length=2000)


class ProposeIn(BaseModel):
    """The theme to propose an article from."""

    model_config = ConfigDict(extra="forbid")

    theme_id: int = Field(ge=1, le=2**63 - 1)


@api.get("/api/knowledge", name="api_knowledge")
def knowledge_api(
    session: SessionDep,
    embedder: Embedder,
    q: Query_ = "",
    mode: Mode = "both",
    agents: bool = False,
) -> dict[str, Any]:
    """Articles with every word of ``q`` and the ones nearest in meaning (``agents``: only
    those public to agents); every article, newest first, without a query."""
    words, meaning = _find(session, embedder, q, mode, agents)
    return {
        "keyword": [_article_dict(a) for a in words],
        "semantic": [{**_article_dict(m.article), "similarity": m.similarity} for m in meaning],
    }


@api.post(
    "/api/knowledge/propose",
    status_code=201,
    responses=refusals(400, 404, s400="The theme has no problem yet.", s404="No such theme."),
    name="api_article_propose",
)
def article_propose_api(session: SessionDep, user: CurrentUser, body: ProposeIn) -> dict[str, Any]:
    """Draft an article (not public yet) from a theme's typical contacts and the cause,
    workaround and fix recorded on its problem."""
    check_can_work_on(user, theme_problem(session, body.theme_id))
    article = propose_article(session, body.theme_id, actor=user.email)
    return _article_dict(article, revisions_of(session, article.id))


@api.get(
    "/api/knowledge/{article_id}",
    responses=refusals(404, s404="No such article."),
    name="api_article",
)
def article_api(session: SessionDep, article: ArticleDep) -> dict[str, Any]:
    """One article with every revision (who changed what, when), newest first."""
    return _article_dict(article, revisions_of(session, article.id))


@api.post(
    "/api/knowledge/{article_id}",
    responses=refusals(400, 404, 409, s404="No such article.", s409="Saved by someone else since."),
    name="api_article_save",
)
def article_save_api(
    session: SessionDep, user: CurrentUser, article: EditableArticle, body: ArticleIn
) -> dict[str, Any]:
    """Change an article (a new revision when anything changed); ``revision`` guards against
    overwriting someone else's save."""
    changes = body.model_dump(exclude_none=True, exclude={"revision", "note"})
    save_article(
        session,
        article.id,
        changes,
        actor=user.email,
        expected_revision=body.revision,
        note=body.note,
    )
    return _article_dict(article, revisions_of(session, article.id))


router = APIRouter()
router.include_router(pages)
router.include_router(api)
