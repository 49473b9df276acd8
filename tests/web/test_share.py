"""Teilen: choose recipients, see exactly what leaves, share only that.

The city Bonn runs its web interface in-process; Chemnitz and Dresden are real nodes on loopback
(tests/node/federation.py), so what Bonn's form shares is taken from the bytes that crossed the wire.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from pytest_aiohttp import AiohttpClient

from node import audit
from node.home import Node
from node.networks.operator import admit_member, create_network
from node.networks.sync import join_network
from node.sharing.records import add_record, edit_record
from node.sharing.release import pending_shares
from node.sharing.shares import retract
from node.users import ADMIN, Actor
from protocol.canonical import canonical_bytes
from tests.node.federation import Federation
from tests.node.networks.test_registry import YEAR
from tests.web.conftest import Ui, city

OLGA = Actor("olga", "officer")
LOCAL_NOTE = "LOCAL-NOTE-3f9a"
LOCAL_COSTS = "LOCAL-COSTS-6b1c"
PHONE = "0821 324-1234"
RECORD: dict[str, Any] = {
    "title": "Sicherheitsaudit Innenstadt",
    "summary": "Begehungen mit Anwohnern, Polizei und Jugendhilfe.",
    "implementation": {"duration": "1 Jahr", "costs": LOCAL_COSTS},
    "internal_notes": LOCAL_NOTE,
}
HIDDEN = re.compile(r'name="(version|sha256)" value="([^"]*)"')


@pytest.fixture
async def fed(tmp_path: Path) -> AsyncIterator[Federation]:
    federation = Federation(tmp_path)
    yield federation
    await federation.close()


async def city_ui(fed: Federation, aiohttp_client: AiohttpClient, *, four_eyes: bool = False) -> Ui:
    """Bonn (one user per role) paired with Chemnitz and Dresden, as tests/web/test_alerts.py sets it up."""
    return await city(fed, aiohttp_client, {"release": {"four_eyes": four_eyes}})


@pytest.fixture
async def ui(fed: Federation, aiohttp_client: AiohttpClient) -> Ui:
    return await city_ui(fed, aiohttp_client)


def node(fed: Federation, name: str) -> Node:
    return fed.nodes[name]


def queued(bonn: Node) -> dict[str, Any]:
    """What a refused share must leave as it was: shares, grants and queued sends."""
    return {
        t: bonn.db.execute(f"SELECT * FROM {t} ORDER BY rowid").fetchall() for t in ("shares", "grants", "deliveries")
    }


def pinned(html: str) -> dict[str, str]:
    """The version and SHA-256 the preview carries in its hidden fields."""
    return dict(HIDDEN.findall(html))


async def preview(ui: Ui, record_id: str, *to: Node, **extra: str) -> Any:
    """Post step 1 of the form: show the preview for the partners `to` (or the audience in `extra`)."""
    fields = {"step": "preview", "audience": "peers", **extra}
    data = [*fields.items(), *(("to", n.node_id) for n in to)]
    return await ui.client.post(f"/records/{record_id}/share", data=[*data, ("csrf_token", await ui.token())])


async def share(ui: Ui, record_id: str, shown: dict[str, str], *to: Node) -> Any:
    data = [("step", "share"), ("audience", "peers"), *(("to", n.node_id) for n in to), *shown.items()]
    return await ui.client.post(
        f"/records/{record_id}/share", data=[*data, ("csrf_token", await ui.token())], allow_redirects=False
    )


async def test_step_one_lists_the_partners_with_their_verification_state(ui: Ui, fed: Federation) -> None:
    record_id = add_record(ui.node, "experience", RECORD, by=OLGA)
    page = await ui.client.get(f"/records/{record_id}/share")
    html = await page.text()
    assert page.status == 200
    for name in ("Chemnitz", "Dresden"):
        assert name in html
    assert node(fed, "Chemnitz").node_id in html
    assert "Sicherheitsnummer noch nicht verglichen" in html
    assert "Alle Partnerstädte" in html
    assert "TLP:AMBER" in html


async def test_the_preview_shows_what_leaves_and_names_the_local_fields_as_absent(ui: Ui, fed: Federation) -> None:
    record_id = add_record(ui.node, "experience", RECORD, local=["implementation.costs"], by=OLGA)
    chemnitz, dresden = node(fed, "Chemnitz"), node(fed, "Dresden")
    page = await preview(ui, record_id, chemnitz, dresden)
    html = await page.text()
    assert page.status == 200, html
    assert "Vorschau: genau das verlässt die Stadt" in html
    assert "Begehungen mit Anwohnern" in html
    assert "Bleibt lokal" in html or "bleibt lokal" in html
    local = html[html.index("wird nicht geteilt") :]
    assert "Kosten" in local
    assert "Interne Notizen" in local
    assert LOCAL_NOTE not in html
    assert LOCAL_COSTS not in html
    assert "Die empfangende Stadt und, wo nötig, ihre Partner vor Ort" in html
    assert "An Chemnitz und Dresden teilen (TLP:AMBER)" in html
    shown = pinned(html)
    assert shown["version"] == "1"
    assert shown["sha256"].startswith("sha256:")


async def test_what_the_form_shares_is_the_previewed_bytes_and_nothing_local(ui: Ui, fed: Federation) -> None:
    record_id = add_record(ui.node, "experience", RECORD, local=["implementation.costs"], by=OLGA)
    chemnitz = node(fed, "Chemnitz")
    shown = pinned(await (await preview(ui, record_id, chemnitz)).text())
    response = await share(ui, record_id, shown, chemnitz)
    assert response.status == 303
    assert response.headers["Location"] == f"/records/{record_id}"
    await fed.deliver(ui.node)
    [wire] = fed.bytes_from(ui.node)
    assert wire.receiver == chemnitz.node_id
    [envelope] = wire.envelopes()
    assert audit.digest_of(canonical_bytes(envelope)) == shown["sha256"]
    assert LOCAL_NOTE.encode() not in wire.body
    assert LOCAL_COSTS.encode() not in wire.body
    assert chemnitz.db.execute("SELECT count(*) FROM inbox WHERE id = ?", (record_id,)).fetchone()[0] == 1
    [entry] = [e for e in audit.list_entries(ui.node) if e["action"] == "record.share"]
    assert entry["user"] == "olga"
    page = await ui.client.get(f"/records/{record_id}")
    assert "Geteilt" in await page.text()


async def test_a_personal_datum_is_marked_in_place_and_blocks_until_confirmed(ui: Ui, fed: Federation) -> None:
    content = {**RECORD, "summary": f"Rückfragen unter {PHONE} beim Ordnungsamt."}
    record_id = add_record(ui.node, "experience", content, by=OLGA)
    chemnitz = node(fed, "Chemnitz")
    html = await (await preview(ui, record_id, chemnitz)).text()
    assert re.search(rf'<mark class="pv-finding"[^>]*>{re.escape(PHONE)}<', html), html
    assert "Rückfragen unter " in html
    assert 'id="share-button"' not in html
    assert pinned(html) == {}
    assert f'href="/records/{record_id}/edit"' in html

    before = queued(ui.node)
    refused = await preview(ui, record_id, chemnitz, step="confirm")
    text = await refused.text()
    assert refused.status == 400
    error = text[text.index('id="pii_checked-error"') :]
    assert "Bitte bestätigen Sie" in error[:400]
    assert ui.node.db.execute("SELECT pii_confirmed_by FROM versions").fetchone()[0] is None

    confirmed = await preview(ui, record_id, chemnitz, step="confirm", pii_checked="1")
    text = await confirmed.text()
    assert confirmed.status == 200
    assert 'id="share-button"' in text
    assert re.search(rf'<mark class="pv-finding"[^>]*>{re.escape(PHONE)}<', text)
    assert ui.node.db.execute("SELECT pii_confirmed_by FROM versions").fetchone()[0] == "olga"
    assert queued(ui.node) == before


async def test_a_share_without_a_preview_is_refused_and_nothing_is_queued(ui: Ui, fed: Federation) -> None:
    record_id = add_record(ui.node, "experience", RECORD, by=OLGA)
    chemnitz = node(fed, "Chemnitz")
    before = queued(ui.node)
    response = await share(ui, record_id, {}, chemnitz)
    html = await response.text()
    assert response.status == 409
    assert "bitte sehen Sie sich zuerst die Vorschau an" in html
    assert 'id="share-button"' in html  # the preview is on screen now
    assert queued(ui.node) == before
    await fed.deliver(ui.node)
    assert fed.bytes_from(ui.node) == []


async def test_a_share_with_a_stale_preview_is_refused_and_the_new_preview_shown(ui: Ui, fed: Federation) -> None:
    record_id = add_record(ui.node, "experience", RECORD, by=OLGA)
    chemnitz = node(fed, "Chemnitz")
    shown = pinned(await (await preview(ui, record_id, chemnitz)).text())
    edit_record(ui.node, record_id, {**RECORD, "summary": "Eine Fassung, die niemand gesehen hat."}, by=OLGA)
    before = queued(ui.node)
    response = await share(ui, record_id, shown, chemnitz)
    html = await response.text()
    assert response.status == 409
    assert "hat sich seit der Vorschau geändert" in html
    assert "Eine Fassung, die niemand gesehen hat." in html
    assert pinned(html)["version"] == "2"
    assert queued(ui.node) == before
    for forged in ({"version": "2", "sha256": shown["sha256"]}, {"version": "1", "sha256": "sha256:" + "A" * 43}):
        assert (await share(ui, record_id, forged, chemnitz)).status == 409
    assert queued(ui.node) == before
    await fed.deliver(ui.node)
    assert fed.bytes_from(ui.node) == []


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ([("audience", "peers")], "to", "Bitte mindestens eine Partnerstadt auswählen"),
        ([], "audience", "Bitte auswählen, wer die Meldung erhält"),
        ([("audience", "network")], "audience", "Bitte ein Netzwerk auswählen"),  # this node is in no network
        ([("audience", "peers"), ("to", "pv1nobody")], "audience", "pv1nobody"),
        ([("audience", "peers"), *[("to", f"x{n}") for n in range(501)]], "to", "Zu viele Empfänger"),
    ],
)
async def test_a_wrong_choice_of_recipients_is_named_next_to_its_field(
    ui: Ui, data: list[tuple[str, str]], field: str, message: str
) -> None:
    record_id = add_record(ui.node, "experience", RECORD, by=OLGA)
    before = queued(ui.node)
    envelopes = ui.node.db.execute("SELECT count(*) FROM envelopes").fetchone()[0]
    response = await ui.client.post(
        f"/records/{record_id}/share", data=[("step", "preview"), *data, ("csrf_token", await ui.token())]
    )
    html = await response.text()
    assert response.status == 400
    error = html[html.index(f'id="{field}-error"') :]
    assert message in error[:600]
    assert queued(ui.node) == before
    assert ui.node.db.execute("SELECT count(*) FROM envelopes").fetchone()[0] == envelopes


async def test_red_is_offered_for_named_partners_only_and_refused_for_all(ui: Ui) -> None:
    record_id = add_record(ui.node, "experience", RECORD, tlp="TLP:RED", by=OLGA)
    html = await (await ui.client.get(f"/records/{record_id}/share")).text()
    assert 'value="all"' not in html
    before = queued(ui.node)
    response = await ui.client.post(
        f"/records/{record_id}/share",
        data={"step": "preview", "audience": "all", "csrf_token": await ui.token()},
    )
    assert response.status == 400
    assert "TLP:RED" in (await response.text())
    assert queued(ui.node) == before


async def test_unknown_records_wrong_methods_steps_and_missing_tokens_are_refused(ui: Ui, fed: Federation) -> None:
    assert (await ui.client.get("/records/nope/share")).status == 404
    response = await ui.client.post(
        "/records/nope/share", data={"step": "preview", "audience": "all", "csrf_token": await ui.token()}
    )
    assert response.status == 404
    record_id = add_record(ui.node, "experience", RECORD, by=OLGA)
    assert (await ui.client.put(f"/records/{record_id}/share")).status in (403, 405)
    before = queued(ui.node)
    bad_step = await ui.client.post(
        f"/records/{record_id}/share", data={"step": "jump", "audience": "all", "csrf_token": await ui.token()}
    )
    assert bad_step.status == 400
    chemnitz = node(fed, "Chemnitz")
    shown = pinned(await (await preview(ui, record_id, chemnitz)).text())
    no_token = await ui.client.post(
        f"/records/{record_id}/share",
        data=[("step", "share"), ("audience", "peers"), ("to", chemnitz.node_id), *shown.items()],
    )
    assert no_token.status == 403
    oversized = await share(ui, record_id, {"version": "1" * 20, "sha256": "sha256:" + "A" * 5000}, chemnitz)
    assert oversized.status == 409
    assert queued(ui.node) == before


async def test_with_four_eyes_the_button_sends_for_release_and_the_share_waits(
    fed: Federation, aiohttp_client: AiohttpClient
) -> None:
    ui = await city_ui(fed, aiohttp_client, four_eyes=True)
    record_id = add_record(ui.node, "experience", RECORD, by=OLGA)
    chemnitz = node(fed, "Chemnitz")
    html = await (await preview(ui, record_id, chemnitz)).text()
    assert "Zur Freigabe senden: an Chemnitz (TLP:AMBER)" in html
    response = await share(ui, record_id, pinned(html), chemnitz)
    assert response.status == 303
    [waiting] = pending_shares(ui.node)
    assert (waiting["peer_id"], waiting["author"], waiting["sha256"]) == (
        chemnitz.node_id,
        "olga",
        pinned(html)["sha256"],
    )
    assert ui.node.db.execute("SELECT count(*) FROM grants").fetchone()[0] == 0
    page = await ui.client.get(f"/records/{record_id}")
    assert "Zur Freigabe gesendet" in await page.text()


async def test_a_network_share_previews_and_sends_the_network_seal(ui: Ui, fed: Federation) -> None:
    bonn, chemnitz = ui.node, node(fed, "Chemnitz")
    create_network(bonn, "DEFUS", by=ADMIN)
    admitted = await admit_member(bonn, chemnitz.config.url, chemnitz.fingerprint, lifetime=YEAR, by=ADMIN)
    await join_network(chemnitz, admitted["code"], by=ADMIN)
    record_id = add_record(bonn, "experience", RECORD, tlp="TLP:GREEN", by=OLGA)
    step_one = await (await ui.client.get(f"/records/{record_id}/share")).text()
    assert 'value="DEFUS"' in step_one
    named = pinned(await (await preview(ui, record_id, chemnitz)).text())
    page = await preview(ui, record_id, audience="network", network="DEFUS")
    html = await page.text()
    assert page.status == 200, html
    assert "An das Netzwerk DEFUS teilen (TLP:GREEN)" in html
    shown = pinned(html)
    assert shown["sha256"] != named["sha256"]  # a network's envelope names the network: other bytes

    before = queued(bonn)
    fields = [("step", "share"), ("audience", "network"), ("network", "DEFUS"), *named.items()]
    wrong = await ui.client.post(f"/records/{record_id}/share", data=[*fields, ("csrf_token", await ui.token())])
    assert wrong.status == 409  # the named preview's bytes are not what the network share sends
    assert queued(bonn) == before

    fields = [("step", "share"), ("audience", "network"), ("network", "DEFUS"), *shown.items()]
    done = await ui.client.post(
        f"/records/{record_id}/share", data=[*fields, ("csrf_token", await ui.token())], allow_redirects=False
    )
    assert done.status == 303
    await fed.deliver(bonn)
    [envelope] = [e for w in fed.bytes_from(bonn) if w.receiver == chemnitz.node_id for e in w.envelopes()]
    assert envelope["network"]
    assert audit.digest_of(canonical_bytes(envelope)) == shown["sha256"]


async def test_a_retracted_record_cannot_be_shared(ui: Ui, fed: Federation) -> None:
    record_id = add_record(ui.node, "experience", RECORD, by=OLGA)
    retract(ui.node, record_id, by=OLGA)
    before = queued(ui.node)
    assert (await ui.client.get(f"/records/{record_id}/share")).status == 409
    response = await preview(ui, record_id, node(fed, "Chemnitz"))
    assert response.status == 409
    assert "zurückgezogen" in await response.text()
    assert queued(ui.node) == before
