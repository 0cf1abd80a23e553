"""Audited overrides: a reviewer accepts one specific violation (by fingerprint) for a limited time.

An override needs a non-empty reason, an author and an expiry in the future, at most
:data:`MAX_OVERRIDE_DAYS` after the grant (an accepted risk is reviewed again, not forgotten); it can
be revoked. It
lives in the metadata database (table ``compliance_overrides``) and every grant, revoke and use is
written to the audit trail. There is deliberately no other way to silence a finding: no magic
comment, no marker file, no environment switch.

Times are stored as naive UTC datetimes (SQLite keeps no time zone); the API accepts aware or naive
(naive = UTC) datetimes and ``YYYY-MM-DD`` dates (expiring at the start of that day, UTC).
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import DateTime, Integer, String, Text, or_, select
from sqlalchemy.orm import Mapped, mapped_column

from mltrainer.db import Base, session_scope
from mltrainer.errors import InvalidInputError, NotFoundError

__all__ = [
    "ComplianceOverride",
    "Override",
    "grant_override",
    "revoke_override",
    "list_overrides",
    "active_override_for",
    "active_overrides_by_fingerprint",
    "MAX_OVERRIDE_DAYS",
]

log = logging.getLogger(__name__)

_FINGERPRINT = re.compile(r"^[0-9a-f]{16,64}$")
#: Longest lifetime of an override, in days from its grant; to keep one longer, grant it again.
MAX_OVERRIDE_DAYS = 180


class ComplianceOverride(Base):
    __tablename__ = "compliance_overrides"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    fingerprint: Mapped[str] = mapped_column(String(64), index=True)
    rule: Mapped[str | None] = mapped_column(String(64), nullable=True)
    path: Mapped[str | None] = mapped_column(Text, nullable=True)
    reason: Mapped[str] = mapped_column(Text)
    author: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    revoked_by: Mapped[str | None] = mapped_column(String(200), nullable=True)


@dataclass(frozen=True)
class Override:
    """An override as the API returns it (times are naive UTC)."""

    id: int
    fingerprint: str
    rule: str | None
    path: str | None
    reason: str
    author: str
    created_at: dt.datetime
    expires_at: dt.datetime
    revoked_at: dt.datetime | None
    revoked_by: str | None

    def is_active(self, now: dt.datetime | None = None) -> bool:
        now = _utc_naive(now) if now is not None else _now()
        return self.revoked_at is None and self.expires_at > now


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def _utc_naive(value: dt.datetime | dt.date | str, name: str = "time") -> dt.datetime:
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value.strip())
        except ValueError:
            raise InvalidInputError(f"Invalid {name} {value!r}: use YYYY-MM-DD or an ISO date-time.") from None
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).replace(tzinfo=None) if value.tzinfo else value
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day)
    raise InvalidInputError(f"Invalid {name} {value!r}: use YYYY-MM-DD or an ISO date-time.")


def _to_override(row: ComplianceOverride) -> Override:
    return Override(row.id, row.fingerprint, row.rule, row.path, row.reason, row.author, row.created_at,
                    row.expires_at, row.revoked_at, row.revoked_by)


def _audit(action: str, target: str, details: dict, actor: str) -> None:
    from mltrainer.compliance.scanner import record_audit

    record_audit(action, target, details, actor)


def _require_text(value: str | None, name: str, example: str) -> str:
    text = (value or "").strip()
    if not text:
        raise InvalidInputError(f"An override needs a non-empty {name}, e.g. {example}.")
    return text


def grant_override(fingerprint: str, reason: str, author: str, expires_at: dt.datetime | dt.date | str,
                   rule: str | None = None, path: str | None = None) -> Override:
    """Accept the violation with ``fingerprint`` until ``expires_at``: in the future and at most
    :data:`MAX_OVERRIDE_DAYS` days from now."""
    fingerprint = (fingerprint or "").strip().lower()
    if not _FINGERPRINT.match(fingerprint):
        raise InvalidInputError(
            f"Invalid fingerprint {fingerprint!r}: copy the hex 'fingerprint' of the violation from the scan report."
        )
    reason = _require_text(reason, "reason", "'vendored code, fixed upstream in v2'")
    author = _require_text(author, "author", "your user name")
    if rule is not None:
        from mltrainer.compliance.rules import RULES

        if rule not in RULES and rule != "syntax-error":
            raise InvalidInputError(f"Unknown rule {rule!r}: use one of {', '.join(RULES)}.")
    expires = _utc_naive(expires_at, "expiry")
    now = _now()
    if expires <= now:
        raise InvalidInputError(
            f"Override expiry {expires.isoformat()} is not in the future: give a later date (YYYY-MM-DD)."
        )
    latest = now + dt.timedelta(days=MAX_OVERRIDE_DAYS)
    if expires > latest:
        raise InvalidInputError(
            f"Override expiry {expires.date().isoformat()} is more than {MAX_OVERRIDE_DAYS} days away: overrides "
            f"last at most {MAX_OVERRIDE_DAYS} days, so give a date on or before {latest.date().isoformat()} "
            "and grant it again when it is reviewed."
        )
    with session_scope() as session:
        row = ComplianceOverride(fingerprint=fingerprint, rule=rule, path=path, reason=reason, author=author,
                                 created_at=now, expires_at=expires)
        session.add(row)
        session.flush()
        override = _to_override(row)
    _audit("override.grant", fingerprint, {
        "override_id": override.id, "rule": rule, "path": path, "reason": reason,
        "expires_at": expires.isoformat(),
    }, author)
    log.info("override %s granted for %s by %s", override.id, fingerprint, author)
    return override


def revoke_override(override_id: int, author: str) -> Override:
    """End an override now. Revoking twice is an error (the first revocation stands)."""
    author = _require_text(author, "author", "your user name")
    with session_scope() as session:
        row = session.get(ComplianceOverride, int(override_id))
        if row is None:
            raise NotFoundError(f"No override with id {override_id}: list them with "
                                "`python -m mltrainer compliance overrides list`.")
        if row.revoked_at is not None:
            raise InvalidInputError(f"Override {override_id} was already revoked by {row.revoked_by}.")
        row.revoked_at = _now()
        row.revoked_by = author
        session.flush()
        override = _to_override(row)
    _audit("override.revoke", override.fingerprint, {"override_id": override.id}, author)
    return override


def list_overrides(active_only: bool = False) -> list[Override]:
    with session_scope() as session:
        query = select(ComplianceOverride).order_by(ComplianceOverride.id)
        if active_only:
            query = query.where(ComplianceOverride.revoked_at.is_(None), ComplianceOverride.expires_at > _now())
        return [_to_override(row) for row in session.scalars(query)]


def active_override_for(fingerprint: str, now: dt.datetime | None = None) -> Override | None:
    """The newest active override for ``fingerprint`` at ``now`` (default: the current time)."""
    return active_overrides_by_fingerprint([fingerprint], now).get(fingerprint)


def active_overrides_by_fingerprint(fingerprints: Iterable[str],
                                    now: dt.datetime | None = None) -> dict[str, Override]:
    """Active overrides for many fingerprints in one query (the newest one wins)."""
    wanted = sorted(set(fingerprints))
    if not wanted:
        return {}
    moment = _utc_naive(now) if now is not None else _now()
    found: dict[str, Override] = {}
    with session_scope() as session:
        for start in range(0, len(wanted), 500):
            query = (
                select(ComplianceOverride)
                .where(ComplianceOverride.fingerprint.in_(wanted[start : start + 500]))
                .where(ComplianceOverride.revoked_at.is_(None))
                .where(ComplianceOverride.expires_at > moment)
                .where(or_(ComplianceOverride.created_at <= moment, ComplianceOverride.created_at.is_(None)))
                .order_by(ComplianceOverride.id)
            )
            for row in session.scalars(query):
                found[row.fingerprint] = _to_override(row)
    return found
