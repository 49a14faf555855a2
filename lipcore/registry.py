"""Name → object registries, so a config string selects a layer, model, dataset, probe, ….

Torch-free on purpose: the server and dashboard list names through `lipcore.catalog`, and
a test keeps that catalog equal to the live registries.
"""
from __future__ import annotations

from typing import Any, Callable, Generic, Iterator, TypeVar

T = TypeVar("T")


class Registry(Generic[T]):
    """A dict of named entries filled by a decorator.

    >>> MODELS = Registry("model")
    >>> @MODELS.register("mlp")
    ... def build_mlp(**kw): ...
    """

    def __init__(self, kind: str):
        self.kind = kind
        self._entries: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        def decorator(obj: T) -> T:
            if name in self._entries:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            self._entries[name] = obj
            return obj

        return decorator

    def get(self, name: str, key: str | None = None) -> T:
        """The entry called `name`; a ValueError naming `key` and the allowed values otherwise."""
        try:
            return self._entries[name]
        except (KeyError, TypeError):
            where = f"{key}: " if key else ""
            raise ValueError(
                f"{where}unknown {self.kind} {name!r}; choose one of {', '.join(self.names())}"
            ) from None

    def names(self) -> list[str]:
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __getitem__(self, name: str) -> T:
        return self.get(name)

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._entries)

    def items(self) -> list[tuple[str, T]]:
        return [(n, self._entries[n]) for n in self.names()]

    def as_dict(self) -> dict[str, Any]:
        return dict(self.items())
