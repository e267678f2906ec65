"""Declared production figures (e.g. Kimberley Process statistics) from a small CSV file."""

from __future__ import annotations

import csv
import math
from pathlib import Path

from geomon.errors import GeomonError

REQUIRED_COLUMNS = ("period", "carats")


def read_declared_csv(path: str | Path) -> dict[str, float]:
    """Read declared carats per period from a CSV with columns ``period,carats[,source]``.

    ``period`` is a period label (``2024Q2``, ``2024-05``) or a calendar year (``2024``); ``carats``
    a plain number (no thousands separators). Blank lines are skipped.

    Parameters
    ----------
    path
        The CSV file.

    Returns
    -------
    dict
        Period label or year to declared carats.

    Raises
    ------
    GeomonError
        Naming the file, the line and column, and what was expected: missing file or columns, an
        empty period, a carats value that is not a number >= 0, a period given twice.

    Examples
    --------
    >>> import tempfile, os
    >>> f = os.path.join(tempfile.mkdtemp(), "declared.csv")
    >>> _ = open(f, "w").write("period,carats,source\\n2019,3989.58,KP statistics\\n")
    >>> read_declared_csv(f)
    {'2019': 3989.58}
    """
    path = Path(path)
    if not path.exists():
        raise GeomonError("declared-production file does not exist", path=path)
    with path.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        columns = [c.strip() for c in reader.fieldnames or []]
        for col in REQUIRED_COLUMNS:
            if col not in columns:
                raise GeomonError(
                    f"missing column {col!r}",
                    path=path,
                    field="header",
                    expected="a header line 'period,carats' (optionally ',source')",
                )
        reader.fieldnames = columns
        out: dict[str, float] = {}
        for row in reader:
            line = reader.line_num
            if not any((v or "").strip() for v in row.values() if isinstance(v, str)):
                continue
            period = (row.get("period") or "").strip()
            if not period:
                raise GeomonError(
                    "empty period",
                    path=path,
                    field=f"line {line}: period",
                    expected="a period label such as 2024Q2 or a year such as 2024",
                )
            text = (row.get("carats") or "").strip()
            try:
                carats = float(text)
            except ValueError:
                carats = math.nan
            if not math.isfinite(carats) or carats < 0:
                raise GeomonError(
                    f"bad carats value {text!r}",
                    path=path,
                    field=f"line {line}: carats",
                    expected="a number >= 0 without thousands separators, e.g. 3989.58",
                )
            if period in out:
                raise GeomonError(
                    f"period {period!r} given twice",
                    path=path,
                    field=f"line {line}: period",
                    expected="one row per period",
                )
            out[period] = carats
    return out
