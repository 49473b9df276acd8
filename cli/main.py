"""Entry point of the `praevnet` command: the group, its error handling, and where each command lives.

Commands are imported only when used (cli.lazy): `praevnet --help` imports none of them, `praevnet id`
only what showing the identity needs.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import click

from cli.lazy import Lazy, LazyGroup
from node.errors import NodeError
from protocol.errors import ProtocolError

PROGRESS_FROM = 1000  # `sync` shows a progress bar when at least this many envelopes remain to pull


class PraevnetGroup(LazyGroup):
    """A group that turns every failure into a one-line message and a non-zero exit."""

    def invoke(self, ctx: click.Context) -> Any:
        """Run the command; map known failures to click errors."""
        try:
            return super().invoke(ctx)
        except (NodeError, ProtocolError) as exc:
            raise click.ClickException(str(exc)) from None
        except BrokenPipeError:
            raise output_closed() from None
        except OSError as exc:
            raise click.ClickException(f"{exc.strerror or exc}: {exc.filename or ''}".rstrip(": ")) from None
        except (click.ClickException, click.exceptions.Exit, click.Abort, KeyboardInterrupt):
            raise
        except Exception as exc:
            if os.environ.get("PRAEVNET_DEBUG"):
                raise
            raise click.ClickException(
                f"unexpected {type(exc).__name__}: {exc} (set PRAEVNET_DEBUG=1 for details)"
            ) from None


def output_closed() -> click.exceptions.Exit:
    """The way out when whoever read standard output stopped (`praevnet records list | head -1`).

    Not an error: what is left to print goes to /dev/null (so that Python's last flush does not fail
    again), and the command ends quietly with status 0.
    """
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):  # a stream without a file descriptor (tests); nothing will be flushed there
        pass
    return click.exceptions.Exit(0)


# Each command: where it lives, and its summary for `praevnet --help` (checked against the command's own
# help by tests/cli/test_lazy.py, so the two cannot drift apart).
COMMANDS = {
    "init": Lazy(
        "cli.identity:init",
        "Create a new node: key, config and database (mode 0600) in a home only its account may enter (0700).",
    ),
    "serve": Lazy(
        "cli.serve_cmd:serve",
        "Run the node: serve the federation endpoints, deliver queued shares and pull from peers.",
    ),
    "id": Lazy(
        "cli.identity:show_id",
        "Show this node's name, node id, URL, fingerprint and safety number.",
    ),
    "sync": Lazy(
        "cli.sync_cmd:sync",
        "Pull now from every trusted peer what it shares with this node.",
    ),
    "peers": Lazy(
        "cli.peers:peers_group",
        "Trusted peers: other cities' nodes this node exchanges with.",
    ),
    "invite": Lazy(
        "cli.invite:invite_group",
        "Pair with another city in one step: one node makes a one-time code, the other accepts it.",
    ),
    "records": Lazy(
        "cli.records:records_group",
        "Experience records (Erfahrungsberichte) of this node.",
    ),
    "alerts": Lazy(
        "cli.records:alerts_group",
        "Early-warning alerts (Frühwarnmeldungen).",
    ),
    "shares": Lazy(
        "cli.shares:shares_group",
        "Shares waiting for release (when release.four_eyes = true in the node's config), and their history.",
    ),
    "inbox": Lazy(
        "cli.inbox:inbox_group",
        "Records and alerts received from peers.",
    ),
    "search": Lazy(
        "cli.search:search_command",
        "Search this node's own records and everything peers sent, best hits first.",
    ),
    "keys": Lazy(
        "cli.keys:keys_group",
        "This node's signing keys: list, rotate, revoke.",
    ),
    "network": Lazy(
        "cli.network.commands:network_group",
        "Networks of cities: members accept each other for network-scoped records without pairing one by one.",
    ),
    "users": Lazy(
        "cli.users:users_group",
        "Local users (officer, approver, admin); every change is attributed to one of them.",
    ),
    "audit": Lazy(
        "cli.audit:audit_group",
        "The audit log: who did what with which record, and what left or arrived (append-only, hash-chained).",
    ),
    "config": Lazy(
        "cli.config_cmd:config_group",
        "The node's configuration: praevnet.toml in its home, overridden by PRAEVNET_SECTION__KEY variables.",
    ),
    "backup": Lazy(
        "cli.backup:backup",
        "Back up the node into the new FILE, encrypted with a passphrase (age format), while the node serves.",
    ),
    "restore": Lazy(
        "cli.backup:restore",
        "Restore the backup FILE into a new node home (--home DIR), checked whole before anything is written.",
    ),
    "demo": Lazy(
        "cli.demo:demo",
        "Start three city nodes on loopback, pair them, exchange a record and an alert; Ctrl-C stops.",
    ),
    "doctor": Lazy(
        "cli.doctor:doctor",
        "Check this node's installation and say what to do about anything wrong; exit 1 if a check FAILs.",
    ),
}


@click.group(cls=PraevnetGroup, lazy=COMMANDS, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="praevnet")
def main() -> None:
    """praevnet: share crime-prevention experience and early warnings between cities, signed and under control.

    Each city runs its own node. Records and alerts stay local until an officer shares them with
    trusted peers; every record is signed by its city, and nothing marked local ever leaves.
    """


if __name__ == "__main__":
    main()
