"""Worker process entry point: ``python -m geomon.sample._worker WORLD ROOT PART PARTS [l1c]``."""

from __future__ import annotations

import sys

from geomon.sample._write import _run_worker

if __name__ == "__main__":
    _world, _root, _part, _parts = sys.argv[1:5]
    _run_worker(_world, _root, int(_part), int(_parts), l1c=sys.argv[5:6] == ["l1c"])
