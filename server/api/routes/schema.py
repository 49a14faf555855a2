"""/schema/config.json: the experiment config's JSON Schema, for editors and clients."""
from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from lipcore.config.jsonschema import config_json_schema_document

router = APIRouter(tags=["schema"])


@router.get("/schema/config.json", response_class=JSONResponse,
            responses={200: {"description": "JSON Schema (draft-07) of a config YAML/JSON",
                             "content": {"application/json": {"schema": {"type": "object"}}}}})
def config_schema() -> JSONResponse:
    """What a config may hold, with defaults, bounds and the registered names; point an editor
    at this URL (`# yaml-language-server: $schema=<url>`) to complete and check a config."""
    return JSONResponse(config_json_schema_document())
