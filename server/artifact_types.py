"""The media type of an artifact file, from a fixed table of the files liplab writes.

Never guessed from the system's MIME database (which calls a `.pt` checkpoint
`application/vnd.snesdev-page-table`): a name not in the table is plain bytes.
"""
from __future__ import annotations

from pathlib import Path

BINARY = "application/octet-stream"
MEDIA_TYPES = {
    ".pt": BINARY, ".pth": BINARY, ".ckpt": BINARY, ".npy": BINARY, ".npz": BINARY,
    ".png": "image/png", ".svg": "image/svg+xml", ".pdf": "application/pdf",
    ".json": "application/json", ".jsonl": "application/jsonl",
    ".yaml": "application/yaml", ".yml": "application/yaml",
    ".csv": "text/csv", ".md": "text/markdown", ".txt": "text/plain",
}


def media_type(path: str | Path) -> str:
    return MEDIA_TYPES.get(Path(path).suffix.lower(), BINARY)


def _content(mt: str) -> dict:
    if mt == "application/json":
        return {"schema": {}}
    if mt.startswith("text/") or mt in ("application/yaml", "application/jsonl", "image/svg+xml"):
        return {"schema": {"type": "string"}}
    return {"schema": {"type": "string", "format": "binary"}}


#: The download's 200 answer, one entry per media type it can carry (OpenAPI `responses`).
FILE_RESPONSES = {200: {"description": "the file, with its media type",
                        "content": {mt: _content(mt) for mt in dict.fromkeys(MEDIA_TYPES.values())}}}
