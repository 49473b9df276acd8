"""`praevnet demo`: a local federation of three city nodes on loopback, paired and exchanging live.

It uses the same operations as the CLI and the same server as `praevnet serve`; only the three
nodes share one process. Augsburg shares an experience record with Bonn, Bonn warns everyone with
an alert, and the demo shows what arrived, verified, and that internal notes stayed at home.

Given the web interface's app factory (`ui`, injected by cli/demo.py: node does not import web),
each city also serves its officers' interface on a loopback port of its own, with the user
DEMO_USER and a password made for this run, both printed with the interface's address.
"""

from __future__ import annotations

import asyncio
import secrets
import socket
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from aiohttp import web

from node.exchange.received import list_inbox
from node.exchange.server import create_app
from node.home import Node, init_home
from node.sharing.records import add_record, send_alert
from node.sharing.shares import share_record
from node.store import now
from node.trust.pairing import add_peer
from node.users import ADMIN, add_user
from protocol.timestamps import format_timestamp

CITIES = (("augsburg", "Stadt Augsburg"), ("bonn", "Stadt Bonn"), ("chemnitz", "Stadt Chemnitz"))
DEMO_USER = "demo"
DEMO_ROLE = "admin"  # may use every page of the interface: write, share, release, manage users
UiFactory = Callable[[Node], web.Application]
LOCAL_NOTE = "Interner Hinweis: Ansprechpartnerin im Jugendamt ist erkrankt, Rückruf erst im Dezember."

EXAMPLE_RECORD: dict[str, Any] = {
    "title": "Sichere Schulwege durch Elternlotsen",
    "summary": "Eltern begleiten an drei Grundschulen Kinder an unübersichtlichen Kreuzungen; "
    "die Zahl gefährlicher Situationen sank deutlich.",
    "problem": "Hohes Verkehrsaufkommen und Beschwerden über Belästigungen auf dem Schulweg.",
    "goals": "Mehr Sicherheitsgefühl für Kinder und Eltern auf dem Schulweg.",
    "target_groups": ["Grundschulkinder", "Eltern"],
    "measures": "Ausbildung und Einsatz von Elternlotsen, gemeinsame Begehungen mit Polizei und Ordnungsamt.",
    "implementation": {"duration": "2 Schuljahre", "partners": ["Polizeiinspektion", "Schulen", "Elternbeiräte"]},
    "evaluation": {"kind": "process", "result": "Befragung von 240 Eltern: 78 % fühlen sich sicherer."},
    "evidence_level": "theoretically_founded",
    "lessons": {"success_factors": "Feste Ansprechperson im Ordnungsamt.", "transferability": "Gut übertragbar."},
    "topics": ["Schulweg", "öffentlicher Raum"],
    "contact": {"mailbox": "praevention@augsburg.example"},
    "internal_notes": LOCAL_NOTE,
}


def example_alert() -> dict[str, Any]:
    """A Frühwarnmeldung about fake police officers on the phone, expiring in two weeks."""
    return {
        "headline": "Vermehrt Schockanrufe durch falsche Polizeibeamte",
        "area": {"name": "Stadtgebiet Bonn", "ars": "053140000000"},
        "expires": format_timestamp(now() + timedelta(days=14)),
        "description": "Täter geben sich am Telefon als Polizei aus und fordern Wertsachen zur 'Verwahrung'.",
        "phenomenon": "Betrug zum Nachteil älterer Menschen",
        "urgency": "Expected",
        "severity": "Moderate",
        "certainty": "Observed",
        "trend": "rising",
        "case_count": 14,  # stays in Bonn; the peers receive its band, "10-19"
        "instruction": "Seniorentreffs informieren; Polizei legt nie Wertsachen in Verwahrung.",
        "source": "Pressemitteilung der Polizei",
        "internal_notes": "Quelle: Gespräch mit KHK im Kommissariat Prävention, nicht zitieren.",
    }


@dataclass
class DemoCity:
    """One running city node of the demo, and its web interface if it serves one."""

    slug: str
    node: Node
    runners: list[web.AppRunner]
    ui_url: str | None = None

    @property
    def name(self) -> str:
        """The city's display name."""
        return self.node.config.name


def _loopback_socket() -> tuple[socket.socket, int]:
    """A socket bound to a free port on 127.0.0.1, and the port."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock, int(sock.getsockname()[1])


async def _serve(app: web.Application, sock: socket.socket, runners: list[web.AppRunner]) -> None:
    """Serve `app` on the bound `sock`; its runner joins `runners`, to be cleaned up with them."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    runners.append(runner)
    await web.SockSite(runner, sock).start()


async def _start_city(
    base: Path, slug: str, name: str, cities: list[DemoCity], ui: UiFactory | None, password: str
) -> DemoCity:
    sock, port = _loopback_socket()
    ui_sock, ui_port = _loopback_socket() if ui is not None else (None, 0)
    ui_listen = f"127.0.0.1:{ui_port}" if ui is not None else None  # so that `praevnet id` names it
    init_home(base / slug, name=name, url=f"http://127.0.0.1:{port}", ui_listen=ui_listen)
    node = Node.open(base / slug)
    city = DemoCity(slug=slug, node=node, runners=[])
    cities.append(city)  # from here on, run_demo closes it whatever happens
    add_user(node, DEMO_USER, DEMO_ROLE, password, by=ADMIN)
    await _serve(create_app(node), sock, city.runners)
    if ui is not None and ui_sock is not None:
        await _serve(ui(node), ui_sock, city.runners)
        city.ui_url = node.config.ui_url
    return city


def _found_in(base: Path, slugs: tuple[str, ...], text: str) -> bool:
    """Whether `text` occurs in any byte of the given cities' database files."""
    needle = text.encode()
    return any(needle in path.read_bytes() for slug in slugs for path in (base / slug).glob("praevnet.db*"))


async def _wait_for(check: Callable[[], bool], seconds: float = 20.0) -> bool:
    try:
        async with asyncio.timeout(seconds):
            while not check():  # noqa: ASYNC110 - polls the databases, which offer no event to wait on
                await asyncio.sleep(0.1)
    except TimeoutError:
        return False
    return True


async def run_demo(
    base: Path, say: Callable[[str], None], hold: Callable[[], Any] | None = None, ui: UiFactory | None = None
) -> dict[str, Any]:
    """Run the demo in directory `base`; `hold` is awaited while the nodes are up (e.g. until Ctrl-C).

    With `ui` (the web interface's app factory), each city serves its interface too, and the demo
    prints where, with the login of its user DEMO_USER.
    """
    cities: list[DemoCity] = []
    password = secrets.token_urlsafe(12)
    try:
        for slug, name in CITIES:
            city = await _start_city(base, slug, name, cities, ui, password)
            say(f"[{city.name}] node {city.node.node_id} up at {city.node.config.url}")
            say(f"    fingerprint {city.node.fingerprint}")
        augsburg, bonn, chemnitz = cities
        say("")
        say("Pairing: each officer adds the others after comparing fingerprints on the phone.")
        for city in cities:
            for other in cities:
                if other is not city:
                    await add_peer(city.node, other.node.config.url, other.node.fingerprint)
            say(f"[{city.name}] trusts the other two cities")
        say("")
        record_id = add_record(augsburg.node, "experience", EXAMPLE_RECORD, by=ADMIN)
        share_record(augsburg.node, record_id, [bonn.node.node_id], all_peers=False, by=ADMIN)
        say(f"[{augsburg.name}] shares record {record_id} '{EXAMPLE_RECORD['title']}' with Bonn only")
        alert_id = send_alert(bonn.node, example_alert(), [], all_peers=True, by=ADMIN)["id"]
        say(f"[{bonn.name}] sends alert {alert_id} to all peers: 'Vermehrt Schockanrufe ...'")
        arrived = await _wait_for(
            lambda: (
                len(list_inbox(bonn.node)) == 1
                and len(list_inbox(augsburg.node)) == 1
                and len(list_inbox(chemnitz.node)) == 1
            )
        )
        say("")
        for city in cities:
            for item in list_inbox(city.node):
                title = (item["content"] or {}).get("title") or (item["content"] or {}).get("headline")
                mark = "signature verified" if item["verified"] else "NOT VERIFIED"
                say(f"[{city.name}] received {item['kind']} from {item['origin_name']}: '{title}' ({mark})")
        alert_note = str(example_alert()["internal_notes"])
        leaked = _found_in(base, ("bonn", "chemnitz"), LOCAL_NOTE) or _found_in(
            base, ("augsburg", "chemnitz"), alert_note
        )
        chemnitz_kinds = {item["kind"] for item in list_inbox(chemnitz.node)}
        say(
            f"[{chemnitz.name}] "
            + ("RECEIVED" if "experience" in chemnitz_kinds else "did not receive")
            + " Augsburg's record: it was shared with Bonn only"
        )
        say(
            "Internal notes stayed at home: "
            + ("NO, FOUND ELSEWHERE" if leaked else "not a byte of them in any other city's database")
        )
        say("")
        say("Try the CLI on a running node, e.g.:")
        say(f"    praevnet inbox list --home {base / 'bonn'}")
        say(f"    praevnet peers list --home {base / 'augsburg'}")
        if ui is not None:
            say("")
            say("Open a city's web interface in a browser:")
            for city in cities:
                say(f"    {city.name}: {city.ui_url}")
            say(f"and log in as user '{DEMO_USER}' with password '{password}' (the same in every city).")
        if hold is not None:
            say("")
            say("The nodes keep running; press Ctrl-C to stop.")
            for city in cities:
                say(f"    {city.name}: {city.node.config.url}")
            await hold()
        return {
            "arrived": arrived,
            "leaked": leaked,
            "chemnitz_kinds": sorted(chemnitz_kinds),
            "record_id": record_id,
            "alert_id": alert_id,
        }
    finally:
        for city in cities:
            for runner in reversed(city.runners):
                await runner.cleanup()
            city.node.close()
