"""The JSON API's refusals, documented once: what each error status means and its body.

Every API route answers errors in the shape the app's error handlers render
(``rootline.web.app``): ``{"detail": "one line"}``, or FastAPI's list of field problems for a
422. Routers take ``COMMON`` (what any route may answer); a route adds what is particular to it
with ``refusals(404, 409, ...)``, so ``/openapi.json`` lists every status the API really gives.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

__all__ = ["COMMON", "FieldProblem", "FieldRefusal", "Refusal", "as_json", "refusals"]


class Refusal(BaseModel):
    """Why the request was refused, in one line."""

    detail: str


class FieldProblem(BaseModel):
    """One thing wrong with the request: where (``["body", "interactions", 3, "csat"]``),
    what, and its kind; a refusal may add fields (the record's ``index``, the ``field``)."""

    model_config = ConfigDict(extra="allow")

    loc: list[str | int]
    msg: str
    type: str


class FieldRefusal(BaseModel):
    """The request was refused for what its fields hold."""

    detail: list[FieldProblem]


_RETRY = {"Retry-After": {"description": "Seconds to wait.", "schema": {"type": "integer"}}}
_BEARER = {"WWW-Authenticate": {"description": "`Bearer`.", "schema": {"type": "string"}}}

#: Status -> (what it means, body model, response headers).
_MEANING: dict[int, tuple[str, type[BaseModel], dict[str, Any]]] = {
    400: (
        "The request cannot be carried out as asked (the detail says why: a state that does "
        "not allow it, an unknown team, a bad filter), or its body could not be read.",
        Refusal,
        {},
    ),
    401: ("No valid API token (or sign-in) came with the request.", Refusal, _BEARER),
    403: (
        "The role, or the API token's scope, may not do this; or the problem is routed to "
        "teams the user is not in; or a request riding on the sign-in cookie lacked the "
        "CSRF token.",
        Refusal,
        {},
    ),
    404: ("Nothing has the id in the path (or in the body).", Refusal, {}),
    409: (
        "Someone else changed it since the `version` sent (or while this request ran); "
        "reload and apply the change again.",
        Refusal,
        {},
    ),
    413: ("The request is larger than this route takes.", FieldRefusal, {}),
    422: ("A parameter or body field is missing or invalid.", FieldRefusal, {}),
    503: (
        "The database is busy with another change; nothing was saved. Try again.",
        Refusal,
        _RETRY,
    ),
}


def refusals(*codes: int, **described: str) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for the error statuses ``codes``, for a route or a router.

    Args:
        codes: Statuses among 400, 401, 403, 404, 409, 413, 422 and 503.
        described: A description that fits the route better, by status (``s404="..."``).

    Returns:
        The ``responses=`` argument of a route decorator or an ``APIRouter``.
    """
    out: dict[int | str, dict[str, Any]] = {}
    for code in codes:
        meaning, model, headers = _MEANING[code]
        entry: dict[str, Any] = {"model": model, "description": described.get(f"s{code}", meaning)}
        if headers:
            entry["headers"] = headers
        out[code] = entry
    return out


#: What any API route may answer: no valid token, a role that may not, a busy database.
COMMON = refusals(401, 403, 503)


def as_json(responses: dict[int | str, dict[str, Any]]) -> dict[int | str, dict[str, Any]]:
    """The same refusals for a route whose own answer is not JSON (a YAML download, say).

    FastAPI documents a response ``model`` under the route's media type; a refusal is JSON
    whatever the route answers, so it is named by reference instead (the models are in the
    schema's components through the other routes).
    """
    out: dict[int | str, dict[str, Any]] = {}
    for code, entry in responses.items():
        plain = {k: v for k, v in entry.items() if k != "model"}
        ref = f"#/components/schemas/{entry['model'].__name__}"
        out[code] = plain | {"content": {"application/json": {"schema": {"$ref": ref}}}}
    return out
