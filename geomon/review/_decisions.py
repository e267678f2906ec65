"""Review decisions and how the latest state of a site is worked out from its history.

A *decision* is one reviewer saying one thing about one site at one time. Nothing is overwritten:
the state of a site is derived from all decisions on it (and on the sites it came from), so two
reviewers who disagree show as a ``conflict`` instead of the later one silently winning.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from geomon.errors import GeomonError

__all__ = [
    "REVIEW_STATES",
    "STATUSES",
    "Decision",
    "SiteReview",
    "latest_state",
    "parse_time",
    "utc_now",
]

#: Statuses a reviewer can set (and import).
STATUSES = ("pending", "confirmed", "rejected", "needs_field_visit")

#: States a site can be in: the statuses plus ``conflict`` (derived, never set by a reviewer).
REVIEW_STATES = (*STATUSES, "conflict")


@dataclass(frozen=True)
class Decision:
    """One recorded decision.

    Attributes
    ----------
    site_key
        The site the decision was made on (for an inherited decision: the ancestor's key).
    status
        One of :data:`STATUSES`.
    reviewer, note
        Who, and what they wrote (may be empty).
    reviewed_at
        When the reviewer decided (UTC ISO 8601, milliseconds).
    recorded_at
        When the store received it.
    source
        How it arrived: ``app``, ``import:<file name>``, ``api``.
    seq
        Insertion order in the store (breaks ties between equal ``reviewed_at``).
    """

    site_key: str
    status: str
    reviewer: str
    note: str
    reviewed_at: str
    recorded_at: str = ""
    source: str = ""
    seq: int = 0

    def to_dict(self) -> dict[str, object]:
        return {
            "site_key": self.site_key, "status": self.status, "reviewer": self.reviewer,
            "note": self.note, "reviewed_at": self.reviewed_at, "recorded_at": self.recorded_at,
            "source": self.source,
        }


@dataclass(frozen=True)
class SiteReview:
    """Where the review of one site stands.

    Attributes
    ----------
    site_key
        The site.
    status
        One of :data:`REVIEW_STATES`: ``pending`` when nobody has decided (or every reviewer
        withdrew), ``conflict`` when reviewers' latest decisions disagree.
    reviewer
        Who made the deciding decision; for a conflict, the disagreeing reviewers, comma-separated.
    note, reviewed_at
        Of the most recent decision that counts ('' and None when pending).
    opinions
        Each reviewer's latest status (pending withdrawals left out), ordered by reviewer.
    history
        Every decision that applies, oldest first (inherited ones carry their ancestor's key).
    """

    site_key: str
    status: str = "pending"
    reviewer: str = ""
    note: str = ""
    reviewed_at: str | None = None
    opinions: tuple[tuple[str, str], ...] = ()
    history: tuple[Decision, ...] = ()

    @property
    def conflict(self) -> bool:
        return self.status == "conflict"

    def to_dict(self) -> dict[str, object]:
        return {
            "site_key": self.site_key, "status": self.status, "reviewer": self.reviewer,
            "note": self.note, "reviewed_at": self.reviewed_at,
            "opinions": [{"reviewer": r, "status": s} for r, s in self.opinions],
            "history": [d.to_dict() for d in self.history],
        }


def latest_state(site_key: str, decisions: Iterable[Decision]) -> SiteReview:
    """Work out the state of a site from every decision that applies to it.

    Each reviewer's latest decision (by ``reviewed_at``, then insertion order) is their opinion;
    a reviewer whose latest is ``pending`` has withdrawn. No opinions: ``pending``. All opinions
    equal: that status, attributed to the most recent of them. Otherwise: ``conflict``.
    """
    history = tuple(sorted(decisions, key=lambda d: (d.reviewed_at, d.seq)))
    if not history:
        return SiteReview(site_key)
    last_by_reviewer: dict[str, Decision] = {}
    for d in history:
        last_by_reviewer[d.reviewer] = d
    standing = sorted(
        (d for d in last_by_reviewer.values() if d.status != "pending"),
        key=lambda d: (d.reviewed_at, d.seq),
    )
    opinions = tuple(sorted((d.reviewer, d.status) for d in standing))
    if not standing:
        return SiteReview(site_key, history=history)
    newest = standing[-1]
    if len({d.status for d in standing}) == 1:
        return SiteReview(site_key, status=newest.status, reviewer=newest.reviewer,
                          note=newest.note, reviewed_at=newest.reviewed_at, opinions=opinions,
                          history=history)
    return SiteReview(site_key, status="conflict",
                      reviewer=", ".join(r for r, _ in opinions), note=newest.note,
                      reviewed_at=newest.reviewed_at, opinions=opinions, history=history)


def utc_now() -> str:
    """The current time as the store writes times (UTC, ISO 8601, milliseconds)."""
    return _format(datetime.now(UTC))


def parse_time(text: object, *, path: object = None, field: str = "reviewed_at") -> str:
    """Normalise an ISO 8601 time to UTC with milliseconds (a time without zone is taken as UTC).

    Raises
    ------
    GeomonError
        When ``text`` is not an ISO 8601 date-time.
    """
    try:
        when = datetime.fromisoformat(str(text).strip())
    except ValueError:
        raise GeomonError(f"bad time {text!r}", path=path, field=field,
                          expected="an ISO 8601 date-time such as 2026-11-28T12:00:00Z") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return _format(when.astimezone(UTC))


def _format(when: datetime) -> str:
    return when.isoformat(timespec="milliseconds").replace("+00:00", "Z")
