"""`Field`: one typed config key with its default, bounds and allowed names."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

from lipcore import catalog

_TYPE_NAMES = {int: "an integer", float: "a number", bool: "true or false", str: "a string",
               list: "a list", dict: "a mapping"}


@dataclass(frozen=True)
class Field:
    """A config key's contract.

    `type` is int, float, bool, str, list, dict or None (anything); `choices` is a list, the
    name of a list in `lipcore.catalog`, or a function returning the list (both read at
    validation time, so they stay current).
    """

    type: type | None
    default: Any = None
    nullable: bool = False
    choices: list | str | Callable[[], list] | None = None
    min: float | None = None
    max: float | None = None
    exclusive_min: bool = False
    help: str = ""
    check: Callable[[Any], str | None] | None = None
    #: the JSON Schema of what `check` admits, for the published config schema
    #: (`lipcore.config.jsonschema`); required beside every `check`.
    schema: dict | None = None

    def allowed(self) -> list | None:
        if isinstance(self.choices, str):
            return list(getattr(catalog, self.choices))
        if callable(self.choices):
            return list(self.choices())
        return self.choices

    def coerce(self, value: Any) -> Any:
        """The value in this field's type, or a ValueError saying what was expected."""
        if value is None:
            if self.nullable:
                return None
            raise ValueError(f"must be {_TYPE_NAMES.get(self.type, 'set')}, not null")
        value = self._coerce_type(value)
        allowed = self.allowed()
        if allowed is not None and value not in allowed:
            raise ValueError(f"{value!r} is not one of {', '.join(map(str, allowed))}")
        if self.min is not None and (value < self.min or (self.exclusive_min and value == self.min)):
            raise ValueError(f"must be {'>' if self.exclusive_min else '>='} {self.min}, got {value}")
        if self.max is not None and value > self.max:
            raise ValueError(f"must be <= {self.max}, got {value}")
        if self.check is not None:
            problem = self.check(value)
            if problem:
                raise ValueError(problem)
        return value

    def _coerce_type(self, value: Any) -> Any:
        t = self.type
        if t is None:
            return value
        if t is bool:
            if isinstance(value, bool):
                return value
            raise ValueError(f"must be true or false, got {value!r}")
        if t is int:
            if (isinstance(value, bool) or not isinstance(value, (int, float))
                    or (isinstance(value, float) and not math.isfinite(value)) or value != int(value)):
                raise ValueError(f"must be an integer, got {value!r}")
            return int(value)
        if t is float:
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValueError(f"must be a number, got {value!r}")
            try:
                finite = math.isfinite(value)
            except OverflowError:  # an integer beyond every float
                finite = False
            if not finite:
                raise ValueError(f"must be finite, got {value!r}")
            return float(value)
        if t is str:
            if not isinstance(value, str):
                raise ValueError(f"must be a string, got {value!r}")
            return value
        if not isinstance(value, t):
            raise ValueError(f"must be {_TYPE_NAMES.get(t, t.__name__)}, got {value!r}")
        return value
