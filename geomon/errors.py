"""One exception type for bad input, so the CLI prints one readable line, not a traceback."""

from __future__ import annotations

from pathlib import Path


class GeomonError(Exception):
    """An error the user can fix: bad input, missing data, an unreachable source.

    Parameters
    ----------
    message
        What went wrong, in words a user understands.
    path
        The file the problem is in, if any.
    field
        The key or property that is wrong, if any (dotted for nested keys, e.g. ``source.url``).
    expected
        What would have been accepted.
    """

    def __init__(
        self,
        message: str,
        *,
        path: str | Path | None = None,
        field: str | None = None,
        expected: str | None = None,
    ) -> None:
        self.message = message
        self.path = None if path is None else Path(path)
        self.field = field
        self.expected = expected
        super().__init__(str(self))

    def __str__(self) -> str:
        where = ""
        if self.path is not None:
            where = f"{self.path}"
            if self.field:
                where += f": {self.field}"
            where += ": "
        elif self.field:
            where = f"{self.field}: "
        text = f"{where}{self.message}"
        if self.expected:
            text += f" (expected {self.expected})"
        return text


class NoImageryError(GeomonError):
    """A search found no imagery for the area and dates asked for."""
