"""Partner und Netzwerke: two real nodes pair through their web interfaces by invitation code, compare and
confirm the safety number; delivery problems, forks and networks are shown; a bad code changes nothing."""

from __future__ import annotations

import html as html_module
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from pytest_aiohttp import AiohttpClient

from node import audit
from node.errors import PeerError
from node.exchange.delivery import send_batch
from node.exchange.inbox import ingest
from node.exchange.pull import pull_from
from node.exchange.status import peer_status
from node.home import Node
from node.networks.operator import create_network
from node.sharing.records import add_record
from node.sharing.shares import share_record
from node.transport.client import new_session
from node.trust.invites import list_invitations
from node.trust.peers import get_peer, list_peers, remove_peer
from node.users import ADMIN, add_user
from tests.conftest import FakePeer, SetClock
from tests.node.federation import Federation
from tests.ports import unreachable_url
from tests.web.conftest import PASSWORD, Ui, error_of
from web.app import create_ui_app

CODE = re.compile(r'<textarea[^>]*id="code"[^>]*>(pvinv1\.[A-Za-z0-9_-]+)</textarea>')
SAFETY = re.compile(r"<code>(\d{5}(?: \d{5}){0,3})</code>")


@dataclass
class Cities:
    """Two real nodes on loopback (Bonn and Chemnitz), each with its web interface; `fed` can add more."""

    fed: Federation
    bonn: Ui
    chemnitz: Ui
    client: AiohttpClient

    async def city(self, name: str) -> Ui:
        """Another real node with olga and its web interface."""
        node = await self.fed.add(name)
        add_user(node, "olga", "officer", PASSWORD, by=ADMIN)
        return Ui(node, await self.client(create_ui_app(node)))


@pytest.fixture
async def cities(tmp_path: Path, aiohttp_client: AiohttpClient) -> AsyncIterator[Cities]:
    fed = Federation(tmp_path)
    try:
        made = Cities(fed, None, None, aiohttp_client)  # type: ignore[arg-type]
        made.bonn = await made.city("Bonn")
        made.chemnitz = await made.city("Chemnitz")
        yield made
    finally:
        await fed.close()


async def invite(ui: Ui, lifetime: str = "1d") -> tuple[str, str]:
    """Make an invitation on `ui`'s partners page; return its code and the page that showed it."""
    response = await ui.post("/partners/invitations", {"lifetime": lifetime})
    assert response.status == 200
    page = await response.text()
    found = CODE.search(page)
    assert found, "the page shows no invitation code"
    return found.group(1), page


def safety(page: str) -> list[str]:
    """The lines of safety numbers on a page, in order."""
    return SAFETY.findall(page)


def names(node: Node) -> list[str]:
    return [peer["name"] for peer in list_peers(node)]


async def test_an_invitation_made_in_one_city_and_accepted_in_the_other_pairs_both(cities: Cities) -> None:
    bonn, chemnitz = cities.bonn, cities.chemnitz
    await bonn.login("olga")
    code, shown = await invite(bonn)
    assert "Dieser Code wird nur jetzt angezeigt" in shown
    assert bonn.node.fingerprint in shown
    assert " ".join(safety(shown)) == bonn.node.identity()["safety_number"]
    listing = await (await bonn.client.get("/partners")).text()
    assert code not in listing  # shown once: never again
    assert "Offene Einladungen" in listing

    await chemnitz.login("olga")
    response = await chemnitz.post("/partners/accept", {"code": f"  {code}\n"})
    assert response.status == 200
    assert str(response.url).endswith(f"/partners/{bonn.node.node_id}")
    page = await response.text()
    assert "Mit Bonn gekoppelt." in page
    assert bonn.node.fingerprint in page
    assert "nicht bestätigt" in page

    assert names(chemnitz.node) == ["Bonn"]
    assert names(bonn.node) == ["Chemnitz"]
    for ui, other in ((bonn, "Chemnitz"), (chemnitz, "Bonn")):
        assert other in await (await ui.client.get("/partners")).text()
    seen_in_bonn = await (await bonn.client.get(f"/partners/{chemnitz.node.node_id}")).text()
    twelve = safety(page)[:3]
    assert safety(seen_in_bonn)[:3] == twelve  # both read the same twelve groups
    assert [len(line.split()) for line in twelve] == [4, 4, 4]
    assert "Offene Einladungen" not in await (await bonn.client.get("/partners")).text()
    made = audit.list_entries(bonn.node, only=audit.EntryFilter(action="invite.create"))
    assert [entry["user"] for entry in made] == ["olga"]
    paired = audit.list_entries(chemnitz.node, only=audit.EntryFilter(action="peer.pair"))
    assert [entry["user"] for entry in paired] == ["olga"]


async def paired(cities: Cities) -> str:
    """Pair Bonn and Chemnitz through their pages; return the code that was used. Olga is logged in on both."""
    await cities.bonn.login("olga")
    code, _ = await invite(cities.bonn)
    await cities.chemnitz.login("olga")
    assert (await cities.chemnitz.post("/partners/accept", {"code": code})).status == 200
    return code


async def test_the_officers_confirm_the_safety_number(cities: Cities) -> None:
    await paired(cities)
    chemnitz, bonn_id = cities.chemnitz, cities.bonn.node.node_id
    path = f"/partners/{bonn_id}"
    page = await (await chemnitz.client.get(path)).text()
    shown = re.search(r'name="fingerprint" value="([^"]+)"', page)
    assert shown
    refused = await chemnitz.post(f"{path}/verify", {"fingerprint": shown.group(1)})
    assert refused.status == 400
    assert "genau diese Ziffern vorgelesen" in error_of(await refused.text(), "match")
    assert list_peers(chemnitz.node)[0]["verified"] is None

    stale = await chemnitz.post(f"{path}/verify", {"fingerprint": "SHA256:" + "A" * 43, "match": "yes"})
    assert stale.status == 409
    assert "haben sich während des Vergleichs geändert" in error_of(await stale.text(), "match")
    assert list_peers(chemnitz.node)[0]["verified"] is None

    done = await chemnitz.post(f"{path}/verify", {"fingerprint": shown.group(1), "match": "yes"})
    assert done.status == 200
    text = await done.text()
    assert "Bonn ist bestätigt." in text
    assert "von olga" in text
    assert list_peers(chemnitz.node)[0]["verified_by"] == "olga"


async def test_a_garbled_code_changes_nothing(cities: Cities) -> None:
    code = await paired(cities)
    chemnitz = cities.chemnitz
    before = list_peers(chemnitz.node), len(audit.list_entries(chemnitz.node))
    cases = {
        "": "Bitte fügen Sie den Einladungscode ein",
        "hallo": "kein gültiger Einladungscode",
        code[:-6]: "kein gültiger Einladungscode",
        code[:20] + ("A" if code[20] != "A" else "B") + code[21:]: "kein gültiger Einladungscode",
        "pvinv1." + "A" * 5000: "zu lang für einen Einladungscode",
    }
    for typed, message in cases.items():
        response = await chemnitz.post("/partners/accept", {"code": typed})
        assert response.status == 400, typed
        assert message in error_of(await response.text(), "code")
    assert (list_peers(chemnitz.node), len(audit.list_entries(chemnitz.node))) == before


async def refused_code(ui: Ui, code: str, message: str) -> str:
    """Accept `code` on `ui`, which must be refused with `message` next to the field and change nothing there."""
    before = list_peers(ui.node), len(audit.list_entries(ui.node))
    response = await ui.post("/partners/accept", {"code": code})
    assert response.status == 400
    page = await response.text()
    error = error_of(page, "code")
    assert message in html_module.unescape(error), error
    assert code in page  # the code stays in the field to try again
    assert (list_peers(ui.node), len(audit.list_entries(ui.node))) == before
    return error


async def test_a_used_code_is_refused_by_the_inviting_city(cities: Cities) -> None:
    code = await paired(cities)
    dresden = await cities.city("Dresden")
    await dresden.login("olga")
    error = await refused_code(dresden, code, "wurde schon benutzt, widerrufen oder ist abgelaufen")
    assert "Technischer Grund" in error
    assert names(cities.bonn.node) == ["Chemnitz"]


async def test_an_expired_code_is_refused_without_asking_anybody(cities: Cities, clock: SetClock) -> None:
    await cities.bonn.login("olga")
    code, _ = await invite(cities.bonn, "1h")
    clock.advance(timedelta(hours=1, seconds=1))
    await cities.chemnitz.login("olga")
    requests = len(cities.fed.requests)
    await refused_code(cities.chemnitz, code, "Diese Einladung ist am")
    assert len(cities.fed.requests) == requests
    assert names(cities.bonn.node) == []


async def test_a_revoked_code_is_refused(cities: Cities) -> None:
    bonn = cities.bonn
    await bonn.login("olga")
    code, _ = await invite(bonn)
    [open_one] = list_invitations(bonn.node, only_open=True)
    response = await bonn.post(f"/partners/invitations/{open_one['id']}/revoke", {})
    assert "ist widerrufen" in await response.text()
    assert list_invitations(bonn.node, only_open=True) == []
    again = await bonn.post(f"/partners/invitations/{open_one['id']}/revoke", {})
    assert "nicht mehr offen" in await again.text()
    await cities.chemnitz.login("olga")
    await refused_code(cities.chemnitz, code, "wurde schon benutzt, widerrufen oder ist abgelaufen")
    assert names(bonn.node) == []


async def test_a_city_cannot_accept_its_own_code(cities: Cities) -> None:
    await cities.bonn.login("olga")
    code, _ = await invite(cities.bonn)
    await refused_code(cities.bonn, code, "stammt von diesem Knoten")


async def test_a_code_whose_node_is_gone_is_named_unreachable(cities: Cities) -> None:
    dresden = await cities.city("Dresden")
    await dresden.login("olga")
    code, _ = await invite(dresden)
    await cities.fed.runners.pop().cleanup()  # Dresden's federation server stops; its UI goes on
    await cities.chemnitz.login("olga")
    await refused_code(cities.chemnitz, code, "nicht erreichbar")


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/partners/invitations/999/revoke", 404),
        ("/partners/invitations/abc/revoke", 404),
        ("/partners/invitations/" + "9" * 40 + "/revoke", 404),
        ("/partners/pnunknown/retry", 404),
        ("/partners/pnunknown/verify", 404),
    ],
)
async def test_unknown_invitations_and_partners(cities: Cities, path: str, status: int) -> None:
    bonn = cities.bonn
    await bonn.login("olga")
    before = len(audit.list_entries(bonn.node))
    assert (await bonn.post(path, {"match": "yes", "fingerprint": "x"})).status == status
    assert len(audit.list_entries(bonn.node)) == before


async def test_a_form_without_csrf_token_pairs_nothing(cities: Cities) -> None:
    await cities.bonn.login("olga")
    code, _ = await invite(cities.bonn)
    await cities.chemnitz.login("olga")
    assert (await cities.chemnitz.post("/partners/accept", {"code": code}, csrf=False)).status == 403
    assert (await cities.bonn.post("/partners/invitations", {"lifetime": "1d"}, csrf=False)).status == 403
    assert names(cities.chemnitz.node) == []
    assert len(list_invitations(cities.bonn.node)) == 1


@pytest.mark.parametrize("lifetime", ["", "2h", "0m", "31d", "x" * 5000])
async def test_an_invitation_needs_one_of_the_offered_lifetimes(cities: Cities, lifetime: str) -> None:
    await cities.bonn.login("olga")
    response = await cities.bonn.post("/partners/invitations", {"lifetime": lifetime})
    assert response.status == 400
    assert "wie lange die Einladung gilt" in error_of(await response.text(), "lifetime")
    assert list_invitations(cities.bonn.node) == []


@pytest.fixture
def troubled(cities: Cities) -> tuple[Ui, FakePeer]:
    """Bonn with a partner Dresden that cannot be reached, one envelope queued for it."""
    dresden = FakePeer("Dresden", unreachable_url()).trusted_by(cities.bonn.node)
    content: dict[str, Any] = {"title": "Nachbarschaftsbegehungen", "summary": "Gemeinsame Begehungen."}
    record_id = add_record(cities.bonn.node, "experience", content, by=ADMIN)
    share_record(cities.bonn.node, record_id, [dresden.node_id], False, by=ADMIN)
    return cities.bonn, dresden


async def test_a_partner_that_cannot_be_reached_is_shown_in_words_and_can_be_retried(
    troubled: tuple[Ui, FakePeer],
) -> None:
    bonn, dresden = troubled
    async with new_session(bonn.node) as session:
        assert await send_batch(bonn.node, session, dresden.node_id) == 0
    [status] = peer_status(bonn.node)
    assert status["next_retry"] is not None
    await bonn.login("olga")
    page = await (await bonn.client.get("/partners")).text()
    assert "war nicht erreichbar" in page
    assert "1 Versuch in Folge fehlgeschlagen" in page
    assert "cannot reach" in page  # the technical reason beside the words
    response = await bonn.post(f"/partners/{dresden.node_id}/retry", {})
    assert "1 Sendung wartet auf Dresden; sie wird sofort erneut gesendet." in await response.text()
    assert peer_status(bonn.node)[0]["next_retry"] is None


async def test_a_failed_pull_is_shown_in_words(troubled: tuple[Ui, FakePeer]) -> None:
    bonn, dresden = troubled
    async with new_session(bonn.node) as session:
        with pytest.raises(PeerError):
            await pull_from(bonn.node, session, get_peer(bonn.node, dresden.node_id))
    await bonn.login("olga")
    page = await (await bonn.client.get(f"/partners/{dresden.node_id}")).text()
    assert "Das Abholen bei dieser Partnerstadt ist fehlgeschlagen. Der Knoten der Partnerstadt war nicht" in page


async def test_a_partner_that_no_longer_trusts_us_is_named(cities: Cities) -> None:
    await paired(cities)
    bonn, chemnitz = cities.bonn, cities.chemnitz
    remove_peer(chemnitz.node, bonn.node.node_id)
    content: dict[str, Any] = {"title": "Nachbarschaftsbegehungen", "summary": "Gemeinsame Begehungen."}
    record_id = add_record(bonn.node, "experience", content, by=ADMIN)
    share_record(bonn.node, record_id, [chemnitz.node.node_id], False, by=ADMIN)
    await cities.fed.deliver(bonn.node)
    page = await (await bonn.client.get("/partners")).text()
    assert "hat unsere Anfragen abgelehnt: Vielleicht vertraut er diesem Knoten nicht mehr" in page
    assert "answered HTTP 401" in page


async def test_a_fork_is_shown_loudly(troubled: tuple[Ui, FakePeer]) -> None:
    bonn, dresden = troubled
    first = dresden.envelope()
    dresden.seq, dresden.prev = 0, None
    second = dresden.envelope({"title": "Ein anderer Bericht", "summary": "Gleiche Nummer"})
    results = ingest(bonn.node, dresden.node_id, [first, second])["results"]
    assert [r["status"] for r in results] == ["accepted", "refused"]
    await bonn.login("olga")
    for path in ("/partners", f"/partners/{dresden.node_id}"):
        page = await (await bonn.client.get(path)).text()
        assert "1 widersprüchliche Fassung der Berichte dieses Partners wurde abgelehnt" in page
        assert 'kern-alert--danger" role="alert"' in page
    assert "Achtung: Dresden hat widersprüchliche Fassungen" in await (await bonn.client.get("/partners")).text()


async def test_networks_are_listed_with_their_members(cities: Cities) -> None:
    create_network(cities.bonn.node, "Städtenetz West", by=ADMIN)
    await cities.bonn.login("olga")
    page = await (await cities.bonn.client.get("/partners")).text()
    assert "Städtenetz West" in page
    assert "von diesem Knoten betrieben" in page
    assert cities.bonn.node.node_id in page
    assert "Mitglieder von Städtenetz West" in page
