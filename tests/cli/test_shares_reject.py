"""`praevnet shares reject SHARE_ID --comment TEXT --user NAME`: an approver turns a request down, saying why."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli.conftest import snapshot
from tests.cli.test_shares_cli import FourEyes, refused

COMMENT = "Bitte die Zielgruppen genauer fassen."


@pytest.fixture
def four_eyes(home: Path, tmp_path: Path) -> FourEyes:
    return FourEyes(home, tmp_path)


def test_an_approver_rejects_with_a_comment_the_author_reads(four_eyes: FourEyes) -> None:
    [waiting] = four_eyes.pending()
    outcome = four_eyes.json("anton", "shares", "reject", str(waiting["id"]), "--comment", COMMENT)
    assert (outcome["id"], outcome["record_id"]) == (waiting["id"], four_eyes.record_id)
    assert four_eyes.pending() == []
    [mine] = four_eyes.json(None, "shares", "list", "--requested-by", "olga")
    assert (mine["state"], mine["rejected_by"], mine["reject_comment"]) == ("rejected", "anton", COMMENT)
    human = four_eyes.run("anton", "shares", "reject", str(waiting["id"]), "--comment", COMMENT)
    refused(human, "not pending")


@pytest.mark.parametrize(
    ("user", "args", "needle"),
    [
        ("anton", ["--comment", "   "], "needs a comment"),
        ("anton", ["--comment", "x" * 1001], "at most 1000"),
        ("olga", ["--comment", COMMENT], "may not release shares"),
        ("anton", ["--comment", COMMENT, "--share-typo"], "No such option"),
    ],
)
def test_a_rejection_without_a_comment_or_by_a_non_approver_changes_nothing(
    four_eyes: FourEyes, user: str, args: list[str], needle: str
) -> None:
    [waiting] = four_eyes.pending()
    before = snapshot(four_eyes.home)
    result = four_eyes.run(user, "shares", "reject", str(waiting["id"]), *args)
    assert result.exit_code != 0
    assert needle in result.stderr
    assert snapshot(four_eyes.home) == before


def test_the_comment_is_required_and_the_share_must_exist(four_eyes: FourEyes) -> None:
    [waiting] = four_eyes.pending()  # listing seals the version it asks to release
    before = snapshot(four_eyes.home)
    missing = four_eyes.run("anton", "shares", "reject", str(waiting["id"]))
    assert missing.exit_code == 2
    assert "--comment" in missing.stderr
    refused(four_eyes.run("anton", "shares", "reject", "999", "--comment", COMMENT), "no share with id 999")
    assert snapshot(four_eyes.home) == before
