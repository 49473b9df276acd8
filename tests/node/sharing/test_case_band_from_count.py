"""Issue 11, item 11: the band that leaves is always computed from the count, never a stored one."""

from __future__ import annotations

import pytest

from node.sharing.policy import outgoing_content

ALERT = {"title": "Enkeltrick", "summary": "Anrufe bei Senioren.", "expires": "2030-01-01T00:00:00Z"}


@pytest.mark.parametrize(("count", "stored", "band"), [(2, "5-9", "<5"), (7, "<5", "5-9"), (30, "10-19", "20+")])
def test_a_stored_band_that_contradicts_the_count_never_leaves(count: int, stored: str, band: str) -> None:
    shared = outgoing_content("alert", {**ALERT, "case_count": count, "case_band": stored})
    assert shared["case_band"] == band
    assert "case_count" not in shared


def test_a_band_marked_local_does_not_leave_at_all() -> None:
    shared = outgoing_content("alert", {**ALERT, "case_count": 2, "case_band": "<5"}, ["case_band"])
    assert "case_band" not in shared
    assert "case_count" not in shared
