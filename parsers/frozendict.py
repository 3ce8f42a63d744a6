"""An immutable, hashable ``str -> str`` mapping.

``AlertEvent`` and ``Envelope`` are frozen dataclasses that other packages may hash, put in
sets or serialise. A plain ``dict`` field would make ``hash()`` raise, and a custom Mapping
class would not be JSON-serialisable, so this is a ``dict`` subclass that refuses mutation.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, NoReturn


class FrozenDict(dict[str, str]):
    """A read-only dict of strings with a stable hash (keys and values coerced to ``str``)."""

    __slots__ = ()

    def __init__(self, data: Mapping[Any, Any] | Iterable[tuple[Any, Any]] | None = None) -> None:
        items = data.items() if isinstance(data, Mapping) else (data or ())
        super().__init__((str(k), "" if v is None else str(v)) for k, v in items)

    def __hash__(self) -> int:  # type: ignore[override]
        return hash(frozenset(self.items()))

    def __reduce__(self) -> tuple[type[FrozenDict], tuple[dict[str, str]]]:
        # dict's default pickling replays __setitem__, which is blocked here.
        return (FrozenDict, (dict(self),))

    def __repr__(self) -> str:
        return f"FrozenDict({dict.__repr__(self)})"

    def _readonly(self, *_args: Any, **_kwargs: Any) -> NoReturn:
        raise TypeError("FrozenDict is read-only")

    __setitem__ = _readonly
    __delitem__ = _readonly
    __ior__ = _readonly  # type: ignore[assignment]
    clear = _readonly
    pop = _readonly  # type: ignore[assignment]
    popitem = _readonly
    setdefault = _readonly  # type: ignore[assignment]
    update = _readonly
