"""`praevnet search ...`: search everything of this node's own and everything received (node.search.query)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from cli.common import PEER_HELP, emit, home_option, json_option, opened
from node.search.query import EVIDENCE_LEVELS, MAX_LIMIT, Filters, search
from protocol.records import RECORD_KINDS


def marked(segments: Sequence[Sequence[Any]]) -> str:
    """Segments of text on one line, the matches in [brackets]."""
    return " ".join("".join(f"[{text}]" if match else str(text) for text, match in segments).split())


def _origin(hit: dict[str, Any]) -> str:
    name = hit["origin_name"] or hit["origin"]
    return f"own ({name})" if hit["own"] else f"from {name}"


def _print(result: dict[str, Any]) -> None:
    hits = result["hits"]
    if not hits:
        click.echo("nothing found")
        return
    click.echo(f"{result['total']} found" + (f", showing {len(hits)}" if len(hits) < result["total"] else ""))
    for number, hit in enumerate(hits, 1):
        title = marked(hit["title_segments"]) or "(no title)"
        click.echo(f"\n{number}. {title}")
        when = (hit["received"] or hit["created"] or "")[:10]
        lapsed = ", expired" if hit["lapsed"] else ""
        click.echo(f"   {hit['kind']} {hit['id']} v{hit['version']}, {hit['tlp']}, {_origin(hit)}, {when}{lapsed}")
        piece = hit["snippet"]
        if piece is not None:
            text = ("… " if piece["cut_start"] else "") + marked(piece["segments"]) + (" …" if piece["cut_end"] else "")
            click.echo(f"   {piece['field']}: {text}")


@click.command("search")
@home_option
@json_option
@click.argument("query", nargs=-1)
@click.option("--kind", type=click.Choice(RECORD_KINDS), help="Only experience records or only alerts.")
@click.option("--topic", metavar="TOPIC", help="Only records with this topic (any case, umlauts folded).")
@click.option("--origin", metavar="PEER", help=f"Only this node's own records ('own') or those of a peer: {PEER_HELP}.")
@click.option("--evidence", type=click.Choice(EVIDENCE_LEVELS), help="Only records with this evidence level.")
@click.option("--tlp", metavar="LABEL", help="Only records with this label, e.g. green or TLP:AMBER.")
@click.option("--since", metavar="DATE", help="Made (or with --received: arrived) on or after this day, YYYY-MM-DD.")
@click.option("--until", metavar="DATE", help="Made (or with --received: arrived) on or before this day, YYYY-MM-DD.")
@click.option("--received", "by_arrival", is_flag=True, help="--since and --until mean when records arrived.")
@click.option("--all", "include_lapsed", is_flag=True, help="Include expired alerts.")
@click.option("--limit", type=click.IntRange(1, MAX_LIMIT), default=20, show_default=True, help="Show this many hits.")
def search_command(
    home: Path | None,
    as_json: bool,
    query: tuple[str, ...],
    kind: str | None,
    topic: str | None,
    origin: str | None,
    evidence: str | None,
    tlp: str | None,
    since: str | None,
    until: str | None,
    by_arrival: bool,
    include_lapsed: bool,
    limit: int,
) -> None:
    """Search this node's own records and everything peers sent, best hits first.

    Every word of QUERY must occur, in the title or the text; umlauts and ß fold ("Strasse" finds
    "Straße") and part of a word finds it ("Einbruch" finds "Wohnungseinbruchdiebstahl"). Words
    need three letters; shorter ones only narrow longer ones. Without QUERY, lists what the options
    let through, newest first. Matches are shown in [brackets].
    """
    filters = Filters(
        kind=kind,
        topic=topic,
        origin=origin,
        evidence=evidence,
        tlp=tlp,
        since=since,
        until=until,
        date_of="received" if by_arrival else "created",
        include_lapsed=include_lapsed,
    )
    with opened(home) as node:
        result = search(node, " ".join(query), filters, limit=limit)
    emit(result, as_json, _print)
