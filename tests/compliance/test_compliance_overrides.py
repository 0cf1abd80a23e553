"""Overrides: reason/author/expiry required, expiry and revocation honoured, every step audited."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from mltrainer.audit import get_audit_trail
from mltrainer.compliance import scan_path
from mltrainer.compliance.overrides import (
    MAX_OVERRIDE_DAYS,
    active_override_for,
    grant_override,
    list_overrides,
    revoke_override,
)
from mltrainer.errors import InvalidInputError, NotFoundError

UNSAFE = Path(__file__).parent / "corpus" / "tp_unsafe.py"


def _tomorrow() -> dt.date:
    return dt.datetime.now(dt.UTC).date() + dt.timedelta(days=1)


def test_grant_applies_to_that_violation_only_and_is_audited():
    before = scan_path(UNSAFE, fail_on="critical")
    target = before.violations[0]
    override = grant_override(target.fingerprint, "vendored loader, reviewed in PR 12", "reviewer",
                              _tomorrow(), rule=target.rule, path=target.path)
    after = scan_path(UNSAFE, actor="ci")
    overridden = [v for v in after.violations if v.overridden]
    assert [(v.fingerprint, v.override_reason, v.override_id) for v in overridden] == [
        (target.fingerprint, "vendored loader, reviewed in PR 12", override.id)]
    assert len(after.blocking()) == len(before.blocking()) - 1
    trail = get_audit_trail()
    [grant] = trail.log(action="override.grant")
    assert (grant["actor"], grant["target"], grant["details"]["override_id"]) == ("reviewer", target.fingerprint,
                                                                                  override.id)
    [use] = trail.log(action="override.use")
    assert (use["actor"], use["target"], use["details"]["line"]) == ("ci", target.fingerprint, target.line)
    assert trail.verify()["ok"] is True


def test_overrides_expire():
    fingerprint = "0123456789abcdef"
    override = grant_override(fingerprint, "temporary", "reviewer", _tomorrow())
    assert active_override_for(fingerprint).id == override.id
    day_after = dt.datetime.combine(_tomorrow() + dt.timedelta(days=1), dt.time())
    assert active_override_for(fingerprint, now=day_after) is None
    assert override.is_active() and not override.is_active(day_after)


def test_revoke_ends_an_override_and_is_audited():
    override = grant_override("fedcba9876543210", "temporary", "reviewer", _tomorrow())
    revoked = revoke_override(override.id, "lead")
    assert revoked.revoked_by == "lead" and revoked.revoked_at is not None
    assert active_override_for("fedcba9876543210") is None
    assert [o.id for o in list_overrides(active_only=True)] == []
    assert [o.id for o in list_overrides()] == [override.id]
    [entry] = get_audit_trail().log(action="override.revoke")
    assert (entry["actor"], entry["details"]["override_id"]) == ("lead", override.id)
    with pytest.raises(InvalidInputError, match="already revoked"):
        revoke_override(override.id, "lead")
    with pytest.raises(NotFoundError):
        revoke_override(999, "lead")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"reason": "  "}, "non-empty reason"),
        ({"author": ""}, "non-empty author"),
        ({"expires_at": "2001-01-01"}, "not in the future"),
        ({"expires_at": "next week"}, "YYYY-MM-DD"),
        ({"fingerprint": "not-hex"}, "Invalid fingerprint"),
        ({"rule": "no-such-rule"}, "Unknown rule"),
    ],
)
def test_grant_validates_its_input(kwargs, message):
    args = {"fingerprint": "0123456789abcdef", "reason": "ok", "author": "me", "expires_at": _tomorrow()}
    args.update(kwargs)
    with pytest.raises(InvalidInputError, match=message):
        grant_override(**args)
    assert list_overrides() == []


def test_expiry_is_capped_at_180_days_from_the_grant():
    assert MAX_OVERRIDE_DAYS == 180
    today = dt.datetime.now(dt.UTC).date()
    with pytest.raises(InvalidInputError, match="more than 180 days away") as too_far:
        grant_override("0123456789abcdef", "vendored", "lead", today + dt.timedelta(days=181))
    assert (today + dt.timedelta(days=180)).isoformat() in str(too_far.value)
    with pytest.raises(InvalidInputError, match="at most 180 days"):
        grant_override("0123456789abcdef", "vendored", "lead", "2099-01-01")
    assert list_overrides() == [] and get_audit_trail().log(action="override.grant") == []
    # A date expires at the start of that day, so 180 days ahead is within the cap.
    override = grant_override("0123456789abcdef", "vendored", "lead", today + dt.timedelta(days=180))
    assert override.expires_at == dt.datetime.combine(today + dt.timedelta(days=180), dt.time())
