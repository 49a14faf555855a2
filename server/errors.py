"""Turning lipcore's config and sweep errors into FastAPI 422s that name the offending field."""
from __future__ import annotations

from fastapi.exceptions import RequestValidationError

from lipcore.config import ConfigError
from lipcore.sweep import SweepError


def config_422(err: ConfigError, where: tuple[str, ...] = ("body", "config")) -> RequestValidationError:
    return RequestValidationError([
        {"loc": [*where, *issue.key.split(".")], "msg": issue.message, "type": "value_error",
         "input": None}
        for issue in err.issues
    ])


def sweep_422(err: SweepError) -> RequestValidationError:
    loc = (["body", *err.key.split(".")] if err.key in ("zip", "random.samples", "params")
           else ["body", "params", err.key])
    return RequestValidationError([{"loc": loc, "msg": str(err), "type": "value_error", "input": None}])


def query_422(err: "QueryError") -> RequestValidationError:  # noqa: F821 - avoids an import cycle
    return RequestValidationError([{"loc": ["query", err.param], "msg": str(err), "type": "value_error",
                                    "input": None}])


def body_422(field: str, message: str) -> RequestValidationError:
    return RequestValidationError([{"loc": ["body", *field.split(".")], "msg": message,
                                    "type": "value_error", "input": None}])
