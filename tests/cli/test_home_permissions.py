"""Finding 8 (issue #11): `praevnet init` makes a private home under any umask; commands refuse one open to others."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from tests.cli.conftest import invoke, ok
from tests.cli.test_bad_input import assert_refused, unchanged
from tests.ports import unreachable_url


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_finding_8_praevnet_init_under_umask_022_gives_0700_and_0600(tmp_path: Path) -> None:
    home = tmp_path / "augsburg"
    old = os.umask(0o022)
    try:
        ok("init", "--home", str(home), "--name", "Stadt Augsburg", "--url", unreachable_url())
    finally:
        os.umask(old)
    assert mode(home) == 0o700
    assert sorted(path.name for path in home.iterdir()) == ["node.key", "praevnet.db", "praevnet.toml"]
    for path in home.iterdir():
        assert mode(path) == 0o600, path


def test_finding_8_commands_refuse_a_home_readable_by_others(home: Path) -> None:
    home.chmod(0o755)
    with unchanged(home):
        result = invoke("id", "--home", str(home))
    assert_refused(result, str(home), "readable by others", "(mode 755)", f"`chmod 700 {home}`")
    assert mode(home) == 0o755
    assert sorted(path.name for path in home.iterdir()) == ["node.key", "praevnet.db", "praevnet.toml"]


def test_finding_8_commands_refuse_a_database_readable_by_others(home: Path) -> None:
    (home / "praevnet.db").chmod(0o644)
    with unchanged(home):
        result = invoke("records", "list", "--home", str(home))
    assert_refused(result, str(home / "praevnet.db"), "readable by others", f"`chmod 600 {home / 'praevnet.db'}`")
    assert mode(home / "praevnet.db") == 0o644
