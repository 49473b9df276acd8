"""`praevnet audit checkpoint` and `audit verify --checkpoint`: a log cut at its end is found (#11 finding 10).

The attacker has the database file: it drops the triggers, deletes the last entries, rewinds the
head to the new last one (and deletes the checkpoints kept in the database), as `audit verify`
alone cannot notice. Only the signed checkpoint the data-protection officer kept elsewhere can.
"""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from node.home import DB_FILE, Node
from protocol.checkpoint import build_checkpoint
from protocol.keys import NodeKey, node_id_for
from tests.cli.conftest import invoke, ok, ok_json, snapshot
from tests.cli.test_audit_cli import log
from tests.cli.test_bad_input import assert_refused, unchanged


def checkpoint(home: Path, path: Path) -> dict[str, Any]:
    """Make a checkpoint into the file `path`; return it."""
    result = ok("audit", "checkpoint", "--home", str(home), "--output", str(path))
    assert result.stdout == f"wrote the checkpoint to {path}\n"
    document: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return document


def attack(home: Path, *statements: str) -> None:
    """Change the database file as someone with access to it would: triggers dropped, then put back unchanged."""
    with closing(sqlite3.connect(home / DB_FILE, isolation_level=None)) as conn:
        triggers = conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'").fetchall()
        for name, _ in triggers:
            conn.execute(f"DROP TRIGGER {name}")
        for statement in statements:
            conn.execute(statement)
        for _, sql in triggers:
            conn.execute(sql)


def cut(home: Path, keep: int, *, checkpoints_too: bool = True) -> None:
    """Delete every entry after `keep` and rewind the head to entry `keep`, consistently."""
    attack(
        home,
        f"DELETE FROM audit WHERE seq > {keep}",
        f"UPDATE audit_head SET seq = {keep}, hash = (SELECT hash FROM audit WHERE seq = {keep})",
        *(["DELETE FROM audit_checkpoints"] if checkpoints_too else []),
    )


def verify(home: Path, *extra: str) -> Any:
    return invoke("audit", "verify", "--home", str(home), *extra)


def test_finding_10_a_cut_chain_with_a_rewound_head_is_found_only_with_a_checkpoint(home: Path, tmp_path: Path) -> None:
    log(home, 8)
    kept = checkpoint(home, tmp_path / "checkpoint.json")
    assert (kept["seq"], kept["type"]) == (8, "audit-checkpoint")
    assert (
        "intact" in ok("audit", "verify", "--home", str(home), "--checkpoint", str(tmp_path / "checkpoint.json")).stdout
    )

    cut(home, 5)

    result = ok("audit", "verify", "--home", str(home))  # the known limit of the chain alone
    assert result.stdout.startswith("audit log intact: 5 entries")

    result = verify(home, "--checkpoint", str(tmp_path / "checkpoint.json"))
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    assert f"checkpoint of seq 8 ({kept['time']}): entries 6 to 8 are missing" in result.stdout
    assert "(the log ends at entry 5, the head says 5)" in result.stdout
    assert result.stderr.startswith("Error: the audit log is not intact: 1 problem(s) found")
    report = json.loads(verify(home, "--checkpoint", str(tmp_path / "checkpoint.json"), "--json").stdout)
    assert (report["intact"], report["entries"], report["checkpoint"]) == (False, 5, 8)


def test_a_cut_that_also_replaced_the_entries_is_found(home: Path, tmp_path: Path) -> None:
    """The attacker cuts, then the node logs three new entries: the log is as long as before, but different."""
    log(home, 6)
    kept = checkpoint(home, tmp_path / "checkpoint.json")
    cut(home, 3)
    log(home, 3)
    assert ok("audit", "verify", "--home", str(home)).stdout.startswith("audit log intact: 6 entries")
    result = verify(home, "--checkpoint", str(tmp_path / "checkpoint.json"))
    assert result.exit_code == 1
    assert f"checkpoint of seq 6 ({kept['time']}): entry 6 differs" in result.stdout


def test_a_checkpoint_of_an_earlier_entry_still_holds_after_the_log_grew(home: Path, tmp_path: Path) -> None:
    log(home, 3)
    checkpoint(home, tmp_path / "checkpoint.json")
    log(home, 4)
    result = ok("audit", "verify", "--home", str(home), "--checkpoint", str(tmp_path / "checkpoint.json"))
    assert result.stdout.startswith("audit log intact: 7 entries")
    assert result.stdout.endswith("; it holds entry 3 of the checkpoint unchanged\n")


def test_a_cut_is_found_by_plain_verify_if_the_attacker_leaves_the_kept_checkpoints(home: Path, tmp_path: Path) -> None:
    log(home, 8)
    kept = checkpoint(home, tmp_path / "checkpoint.json")
    cut(home, 5, checkpoints_too=False)
    result = verify(home)
    assert result.exit_code == 1
    assert f"checkpoint of seq 8 ({kept['time']}, kept in the database): entries 6 to 8 are missing" in result.stdout


def test_checkpoint_prints_the_signed_checkpoint(home: Path) -> None:
    log(home, 2)
    head = ok_json("audit", "verify", "--home", str(home))["head"]
    document = json.loads(ok("audit", "checkpoint", "--home", str(home)).stdout)
    node = Node.open(home)
    try:
        assert (document["node_id"], document["key_id"]) == (node.node_id, "ed25519:1")
    finally:
        node.close()
    assert (document["seq"], document["hash"]) == (head["seq"], head["hash"])
    assert set(document) == {"type", "node_id", "key_id", "seq", "hash", "time", "signature"}


def test_a_checkpoint_signed_before_a_key_rotation_still_verifies(home: Path, tmp_path: Path) -> None:
    log(home, 2)
    checkpoint(home, tmp_path / "before.json")
    ok("keys", "rotate", "--home", str(home))
    after = checkpoint(home, tmp_path / "after.json")
    assert after["key_id"] == "ed25519:2"
    for name in ("before.json", "after.json"):
        ok("audit", "verify", "--home", str(home), "--checkpoint", str(tmp_path / name))


def signed_by_another(home: Path, key: NodeKey, **fields: Any) -> dict[str, Any]:
    """A checkpoint of this node's head signed with `key` (with `fields` claimed instead)."""
    head = ok_json("audit", "verify", "--home", str(home))["head"]
    node = Node.open(home)
    try:
        claims: dict[str, Any] = {"node_id": node.node_id, "seq": head["seq"], "hash_": head["hash"], **fields}
    finally:
        node.close()
    return build_checkpoint(key, time=datetime.now(UTC), **claims)


def refused(home: Path, path: Path, content: str | bytes, *needles: str) -> None:
    """`audit verify --checkpoint` with a file of `content` fails with one error line and changes nothing."""
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    with unchanged(home):
        for extra in ((), ("--json",)):
            assert_refused(verify(home, "--checkpoint", str(path), *extra), *needles)


def test_a_tampered_checkpoint_signature_is_refused(home: Path, tmp_path: Path) -> None:
    log(home, 4)
    document = checkpoint(home, tmp_path / "checkpoint.json")
    signature = document["signature"]
    flipped = ("B" if signature[0] == "A" else "A") + signature[1:]
    for field, value in (("signature", flipped), ("seq", 3), ("hash", "A" * 43)):
        refused(
            home,
            tmp_path / f"{field}.json",
            json.dumps({**document, field: value}),
            f"{tmp_path / f'{field}.json'}",
            "checkpoint refused: the checkpoint's signature does not verify with ed25519:1",
        )


def test_a_checkpoint_of_another_node_is_refused(home: Path, tmp_path: Path) -> None:
    log(home, 2)
    other = NodeKey.generate()
    theirs = signed_by_another(home, other, node_id=node_id_for(other.public))
    refused(home, tmp_path / "other.json", json.dumps(theirs), f"of node {node_id_for(other.public)}, not of this node")
    ours = signed_by_another(home, NodeKey.generate(version=1))  # claims our node id with a key we never had
    refused(home, tmp_path / "forged.json", json.dumps(ours), "signature does not verify")
    stranger = signed_by_another(home, NodeKey.generate(version=7))
    refused(home, tmp_path / "stranger.json", json.dumps(stranger), "signed with ed25519:7, which this node never had")


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        ("Anbei der Prüfpunkt vom Montag.", "is not a checkpoint: not JSON: malformed JSON"),
        (b"\xff\xfe{}", "is not a checkpoint: not JSON: body is not valid UTF-8"),
        ("", "is not a checkpoint: not JSON"),
        ("[1, 2]", "checkpoint refused: a checkpoint must be a JSON object"),
        ("{}", "checkpoint refused: checkpoint: missing field 'hash'"),
        ('{"type": "audit-checkpoint", "seq": 3}', "missing field 'hash'"),
    ],
    ids=["prose", "not-utf8", "empty", "array", "empty-object", "partial"],
)
def test_a_bad_checkpoint_file_gives_a_clear_error(
    home: Path, tmp_path: Path, content: str | bytes, needle: str
) -> None:
    log(home, 2)
    refused(home, tmp_path / "bad.json", content, needle)


def test_a_missing_checkpoint_file_gives_a_clear_error(home: Path, tmp_path: Path) -> None:
    with unchanged(home):
        assert_refused(
            verify(home, "--checkpoint", str(tmp_path / "none.json")), "cannot read the checkpoint", "none.json"
        )


def test_checkpoint_never_overwrites_and_then_stores_nothing(home: Path, tmp_path: Path) -> None:
    log(home, 2)
    existing = tmp_path / "checkpoint.json"
    existing.write_text("meins", encoding="utf-8")
    before = snapshot(home)
    assert_refused(
        invoke("audit", "checkpoint", "--home", str(home), "--output", str(existing)), "already exists; refusing"
    )
    assert_refused(
        invoke("audit", "checkpoint", "--home", str(home), "--output", str(tmp_path / "no" / "such" / "dir.json")),
        "dir.json",
    )
    assert snapshot(home) == before
    assert existing.read_text(encoding="utf-8") == "meins"


def test_audit_checkpoint_without_a_node(tmp_path: Path) -> None:
    result = invoke("audit", "checkpoint", "--home", str(tmp_path / "none"))
    assert result.exit_code == 1
    assert "no praevnet node" in result.stderr


def test_no_checkpoint_of_a_broken_head_and_no_file_left_behind(home: Path, tmp_path: Path) -> None:
    log(home, 2)
    attack(home, "DELETE FROM audit_head")
    with unchanged(home):
        assert_refused(
            invoke("audit", "checkpoint", "--home", str(home), "--output", str(tmp_path / "checkpoint.json")),
            "the audit log has no valid head",
        )
    assert not (tmp_path / "checkpoint.json").exists()
