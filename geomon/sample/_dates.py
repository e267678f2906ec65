"""Dates as integer day numbers, seasonal windows and calendar-quarter periods."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

__all__ = ["EPOCH", "Period", "date_of", "day_of", "quarters", "season_windows"]

#: Day numbers count days since this date; rasters store them as float32 (exact for integers).
EPOCH = date(2000, 1, 1)


def day_of(d: date) -> int:
    """Days since :data:`EPOCH`."""
    return (d - EPOCH).days


def date_of(day: float) -> date:
    """The date of a day number (rounded down)."""
    return EPOCH + timedelta(days=int(day // 1))


def season_windows(window: tuple[int, int], first: int, last: int) -> list[tuple[int, int]]:
    """Occurrences of a day-of-year window that overlap day numbers ``first..last``.

    ``window`` is ``(first_doy, last_doy)``, 1-based; ``first_doy > last_doy`` wraps over the new
    year. Returns ``(start_day, end_day)`` pairs in day numbers, in time order.
    """
    a, b = window
    out = []
    for year in range(date_of(first).year - 1, date_of(last).year + 1):
        start = day_of(date(year, 1, 1)) + a - 1
        end_year = year + 1 if a > b else year
        end = day_of(date(end_year, 1, 1)) + b - 1
        if end >= first and start <= last:
            out.append((start, end))
    return out


@dataclass(frozen=True)
class Period:
    """A calendar quarter, e.g. ``2024Q1`` from 2024-01-01 to 2024-03-31."""

    label: str
    start: date
    end: date

    def to_dict(self) -> dict[str, str]:
        return {"label": self.label, "start": self.start.isoformat(), "end": self.end.isoformat()}


def quarters(start: date, end: date) -> tuple[Period, ...]:
    """Calendar quarters intersecting ``start..end`` (full quarters, not clipped).

    Examples
    --------
    >>> [p.label for p in quarters(date(2024, 2, 10), date(2024, 7, 1))]
    ['2024Q1', '2024Q2', '2024Q3']
    """
    out = []
    year, q = start.year, (start.month - 1) // 3
    while True:
        qs = date(year, 3 * q + 1, 1)
        if qs > end:
            break
        qe = (date(year + 1, 1, 1) if q == 3 else date(year, 3 * q + 4, 1)) - timedelta(days=1)
        out.append(Period(f"{year}Q{q + 1}", qs, qe))
        year, q = (year + 1, 0) if q == 3 else (year, q + 1)
    return tuple(out)
