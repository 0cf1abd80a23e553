"""Overrides: reason/author/expiry required, expiry and revocation honoured, every step audited."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from mltrainer.audit import get_audit_trail
from mltrainer.compliance import scan_path
from mltrainer.compliance.overrides import (
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
