"""`praevnet backup` and `praevnet restore`: the passphrase at a prompt (twice for a backup) or from
PRAEVNET_BACKUP_PASSPHRASE, what they print, and each refusal as one line that changes nothing."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner, Result

from cli.main import main
from node.home import init_home

PASS = "correct horse battery staple"


def run(*args: str, passphrase: str | None = None, typed: str | None = None) -> Result:
    env = {"PRAEVNET_HOME": None, "PRAEVNET_DEBUG": None, "PRAEVNET_BACKUP_PASSPHRASE": passphrase}
    return CliRunner().invoke(main, list(args), env=env, input=typed)


def test_backup_asks_twice_and_restore_once(tmp_path: Path) -> None:
    init_home(tmp_path / "a", name="Stadt A", url="http://127.0.0.1:9")
    made = run("backup", "--home", str(tmp_path / "a"), str(tmp_path / "a.age"), typed=f"{PASS}\n{PASS}\n")
    assert made.exit_code == 0, made.output
    assert "Passphrase: \nRepeat for confirmation: \n" in made.output
    assert "backed up Stadt A" in made.output
    restored = run("restore", str(tmp_path / "a.age"), "--home", str(tmp_path / "b"), typed=f"{PASS}\n")
    assert restored.exit_code == 0, restored.output
    assert "restored Stadt A" in restored.output
    assert "asks its peers how far its chain went" in restored.output


def test_the_passphrase_from_the_environment_and_json(tmp_path: Path) -> None:
    init_home(tmp_path / "a", name="Stadt A", url="http://127.0.0.1:9")
    made = run("backup", "--home", str(tmp_path / "a"), str(tmp_path / "a.age"), "--json", passphrase=PASS)
    assert made.exit_code == 0, made.output
    report = json.loads(made.output)
    assert report["members"] == ["node.key", "praevnet.db", "praevnet.toml"]
    restored = run("restore", str(tmp_path / "a.age"), "--home", str(tmp_path / "b"), "--json", passphrase=PASS)
    assert json.loads(restored.output)["node_id"] == report["node_id"]


def test_refusals_are_one_line_and_change_nothing(tmp_path: Path) -> None:
    init_home(tmp_path / "a", name="Stadt A", url="http://127.0.0.1:9")
    mismatch = run("backup", "--home", str(tmp_path / "a"), str(tmp_path / "x.age"), typed=f"{PASS}\nanders\n")
    assert mismatch.exit_code != 0
    assert "do not match" in mismatch.output  # click repeats the question; then input ends
    assert not (tmp_path / "x.age").exists()
    none = run("backup", "--home", str(tmp_path / "a"), str(tmp_path / "x.age"), typed="")
    assert none.exit_code == 1
    assert "no passphrase given; for an unattended run set PRAEVNET_BACKUP_PASSPHRASE" in none.output
    short = run("backup", "--home", str(tmp_path / "a"), str(tmp_path / "x.age"), passphrase="kurz")
    assert short.exit_code == 1
    assert "Error: the passphrase has 4 characters; use at least 12" in short.output
    assert not (tmp_path / "x.age").exists()

    assert run("backup", "--home", str(tmp_path / "a"), str(tmp_path / "a.age"), passphrase=PASS).exit_code == 0
    wrong = run("restore", str(tmp_path / "a.age"), "--home", str(tmp_path / "b"), passphrase="not the right one")
    assert wrong.exit_code == 1
    assert "passphrase does not open" in wrong.output
    assert not (tmp_path / "b").exists()
    existing = run("restore", str(tmp_path / "a.age"), "--home", str(tmp_path / "a"), typed="")
    assert existing.exit_code == 1
    assert "already holds a node" in existing.output
    assert "Passphrase" not in existing.output  # refused before asking
    missing = run("restore", str(tmp_path / "none.age"), "--home", str(tmp_path / "c"), passphrase=PASS)
    assert missing.exit_code == 2
    assert "does not exist" in missing.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "a.age"]
