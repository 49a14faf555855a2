"""The OpenAPI document, completed in one place: error answers, the bearer scheme, the config.

Routes declare only what is theirs (`responses=CONFLICT` where a run's state can refuse an
action). `install(app)` adds the rest when the document is built: 401 where the deployment's
token guards the operation (and the `bearer` security scheme, only when a token is set), 404 on
operations that address a row by id, 400 (not JSON) and 413 (too large) on operations that take
a body, 422 on those with a body or parameters, 503 (with Retry-After) on every operation while
the database is unavailable, and the experiment config's JSON Schema (`lipcore.config.jsonschema`) as `ExperimentConfig`.
"""
from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel

from lipcore.config.jsonschema import config_json_schema

CONFIG_REF = {"$ref": "#/components/schemas/ExperimentConfig"}
#: how server.schemas marks a config field; replaced by CONFIG_REF in the document.
CONFIG_MARK = "x-experiment-config"
#: the `scheme_name` of the bearer dependency guarding writes and reads (server.api.deps).
WRITE_SCHEME, READ_SCHEME = "write_token", "read_token"


class ErrorMessage(BaseModel):
    """Every error but 422: what went wrong, in words."""

    detail: str


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "model": ErrorMessage}


CONFLICT = {409: _error("the run's state forbids this action")}
NOT_FOUND = {404: _error("no row with this id")}
_ERROR_REF = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorMessage"}}}}
_UNAVAILABLE = {"description": "the database is unavailable; retry after the Retry-After header's seconds",
                "headers": {"Retry-After": {"schema": {"type": "integer"},
                                            "description": "seconds to wait before retrying"}}}
_VALIDATION_REF = {"content": {"application/json": {
    "schema": {"$ref": "#/components/schemas/HTTPValidationError"}}}}


def _refer_configs(node: Any) -> Any:
    """Every config field marked in server.schemas becomes a reference to ExperimentConfig."""
    if isinstance(node, dict):
        if node.get(CONFIG_MARK):
            return {**CONFIG_REF, **{k: v for k, v in node.items() if k in ("description", "default")}}
        return {k: _refer_configs(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_refer_configs(v) for v in node]
    return node


def _guard(op: dict[str, Any], *, token: bool, reads_need_token: bool) -> bool:
    """Whether the operation needs the token here; replaces FastAPI's per-dependency schemes."""
    schemes = {name for req in op.pop("security", []) for name in req}
    return token and (WRITE_SCHEME in schemes or (READ_SCHEME in schemes and reads_need_token))


def complete(doc: dict[str, Any], *, token: bool, reads_need_token: bool) -> dict[str, Any]:
    """`doc` with the shared answers, the security scheme and the config schema added."""
    doc = _refer_configs(doc)
    components = doc.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    schemas["ExperimentConfig"] = config_json_schema()
    schemas["ErrorMessage"] = ErrorMessage.model_json_schema()
    components.pop("securitySchemes", None)
    if token:
        components["securitySchemes"] = {"bearer": {
            "type": "http", "scheme": "bearer",
            "description": "LIPLAB_API_TOKEN of the deployment (LIPLAB_TOKEN for the CLI)"}}
    for path, item in doc.get("paths", {}).items():
        for op in item.values():
            responses = op.setdefault("responses", {})
            if _guard(op, token=token, reads_need_token=reads_need_token):
                op["security"] = [{"bearer": []}]
                responses["401"] = {"description": "the bearer token is missing or wrong", **_ERROR_REF}
            if "{" in path:
                responses.setdefault("404", {"description": "no row with this id", **_ERROR_REF})
            if "requestBody" in op:
                responses["400"] = {"description": "the body is not JSON text", **_ERROR_REF}
                responses["413"] = {"description": "body over LIPLAB_MAX_BODY_BYTES", **_ERROR_REF}
            if "requestBody" in op or op.get("parameters"):
                responses.setdefault("422", {"description": "Validation Error", **_VALIDATION_REF})
            responses.setdefault("503", {**_UNAVAILABLE, **_ERROR_REF})
    if "HTTPValidationError" not in schemas:
        from fastapi.openapi.utils import validation_error_response_definition, validation_error_definition

        schemas["HTTPValidationError"] = validation_error_response_definition
        schemas["ValidationError"] = validation_error_definition
    return doc


def install(app: FastAPI) -> None:
    """Build the document on first request from the app's settings (token or not)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            settings = app.state.settings
            doc = get_openapi(title=app.title, version=app.version, description=app.description,
                              routes=app.routes)
            app.openapi_schema = complete(doc, token=bool(settings.api_token),
                                          reads_need_token=settings.reads_need_token)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
