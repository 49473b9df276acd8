"""Neue Version senden: an edit of a shared report leaves only after its preview was on screen, and then exactly as
shown; what leaves is taken from the bytes that crossed the wire to Chemnitz and Dresden (real nodes)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from pytest_aiohttp import AiohttpClient

from node import audit
from node.sharing.records import add_record, edit_record
from node.sharing.release import pending_shares, release_share
from node.sharing.review import review, share_reviewed
from node.users import Actor
from protocol.canonical import canonical_bytes
from tests.node.federation import Federation
from tests.web.conftest import Ui, city, error_of
from tests.web.test_share import LOCAL_COSTS, LOCAL_NOTE, PHONE, RECORD, queued

OLGA = Actor("olga", "officer")
ANTON = Actor("anton", "approver")
FORM = {
    "title": RECORD["title"],
    "summary": "Begehungen mit Anwohnern, Polizei und Jugendhilfe; jetzt auch nachts.",
    "implementation.duration": "1 Jahr",
    "implementation.costs": LOCAL_COSTS,
    "local.implementation.costs": "1",
    "internal_notes": LOCAL_NOTE,
    "tlp": "TLP:AMBER",
}
DIGEST = re.compile(r'name="digest" value="([^"]+)"')


@pytest.fixture
async def fed(tmp_path: Path) -> AsyncIterator[Federation]:
    federation = Federation(tmp_path)
    yield federation
    await federation.close()


async def shared_city(fed: Federation, aiohttp_client: AiohttpClient, four_eyes: bool = False) -> tuple[Ui, str]:
    """Bonn's interface and a report of Bonn's shared (version 1, reviewed) with Chemnitz and Dresden, delivered."""
    ui = await city(fed, aiohttp_client, {"release": {"four_eyes": four_eyes}})
    to = [fed.nodes["Chemnitz"].node_id, fed.nodes["Dresden"].node_id]
    record_id = add_record(ui.node, "experience", RECORD, local=["implementation.costs"], by=OLGA)
    sealed = review(ui.node, record_id, to, by=OLGA)["sealed"]
    share_reviewed(ui.node, record_id, to, False, version=1, sha256=sealed["sha256"], by=OLGA)
    for request in pending_shares(ui.node):  # four-eyes: a second person released version 1
        release_share(ui.node, request["id"], version=1, sha256=request["sha256"], by=ANTON)
    await fed.deliver(ui.node)
    fed.wire.clear()
    return ui, record_id


async def edit(ui: Ui, record_id: str, **changes: str) -> Any:
    return await ui.post(f"/records/{record_id}/edit", {**FORM, **changes}, allow_redirects=False)


async def send(ui: Ui, record_id: str, html: str, **override: Any) -> Any:
    fields: list[tuple[str, str]] = [("step", "send"), ("version", override.pop("version", "2"))]
    fields += [("digest", digest) for digest in override.pop("digests", DIGEST.findall(html))]
    fields.append(("csrf_token", await ui.token()))
    return await ui.client.post(f"/records/{record_id}/update", data=fields, allow_redirects=False)


async def test_an_edit_of_a_shared_report_leaves_nothing_and_leads_to_the_preview(
    fed: Federation, aiohttp_client: AiohttpClient
) -> None:
    ui, record_id = await shared_city(fed, aiohttp_client)
    form = await (await ui.client.get(f"/records/{record_id}/edit")).text()
    assert "Speichern und Vorschau zeigen" in form
    before = queued(ui.node)
    response = await edit(ui, record_id)
    assert response.status == 303
    assert response.headers["Location"] == f"/records/{record_id}/update"
    assert queued(ui.node)["deliveries"] == before["deliveries"]
    await fed.deliver(ui.node)
    assert fed.bytes_from(ui.node) == []  # nothing left with the save
    page = await (await ui.client.get(f"/records/{record_id}")).text()
    assert "Version 2 ist noch nicht an 2 Partner gesendet" in page
    assert "Chemnitz hat Version 1" in page


async def test_the_preview_shows_what_leaves_and_the_send_sends_exactly_that(
    fed: Federation, aiohttp_client: AiohttpClient
) -> None:
    ui, record_id = await shared_city(fed, aiohttp_client)
    await edit(ui, record_id)
    html = await (await ui.client.get(f"/records/{record_id}/update")).text()
    assert "Vorschau: genau das verlässt die Stadt" in html
    assert "jetzt auch nachts" in html
    assert LOCAL_COSTS not in html
    assert LOCAL_NOTE not in html
    assert "An Chemnitz und Dresden senden (TLP:AMBER)" in html
    [digest] = DIGEST.findall(html)
    response = await send(ui, record_id, html)
    assert response.status == 303, await response.text()
    page = await (await ui.client.get(response.headers["Location"])).text()
    assert "Version 2 an Chemnitz und Dresden gesendet." in page
    await fed.deliver(ui.node)
    wires = fed.bytes_from(ui.node)
    assert {w.receiver for w in wires} == {fed.nodes["Chemnitz"].node_id, fed.nodes["Dresden"].node_id}
    for wire in wires:
        [envelope] = wire.envelopes()
        assert envelope["version"] == 2
        assert f"-={audit.digest_of(canonical_bytes(envelope))}" == digest
        assert LOCAL_COSTS.encode() not in wire.body
        assert LOCAL_NOTE.encode() not in wire.body


@pytest.mark.parametrize(
    "override",
    [
        {"digests": []},  # no preview
        {"digests": ["-=sha256:" + "A" * 43]},  # another envelope
        {"digests": ["not a digest"]},
        {"version": "1"},
        {"version": "x"},
    ],
)
async def test_a_send_other_than_the_preview_is_refused_and_nothing_leaves(
    fed: Federation, aiohttp_client: AiohttpClient, override: dict[str, Any]
) -> None:
    ui, record_id = await shared_city(fed, aiohttp_client)
    await edit(ui, record_id)
    html = await (await ui.client.get(f"/records/{record_id}/update")).text()
    before = queued(ui.node)
    response = await send(ui, record_id, html, **override)
    assert response.status == 409
    assert "Nichts wurde gesendet" in await response.text()
    assert queued(ui.node) == before
    await fed.deliver(ui.node)
    assert fed.bytes_from(ui.node) == []


async def test_a_report_edited_again_after_its_preview_is_not_sent(
    fed: Federation, aiohttp_client: AiohttpClient
) -> None:
    ui, record_id = await shared_city(fed, aiohttp_client)
    await edit(ui, record_id)
    html = await (await ui.client.get(f"/records/{record_id}/update")).text()
    edit_record(ui.node, record_id, {**RECORD, "summary": "Dritte Fassung"}, by=OLGA, distribute=False)
    response = await send(ui, record_id, html)
    assert response.status == 409
    assert "seit der Vorschau geändert" in await response.text()
    await fed.deliver(ui.node)
    assert fed.bytes_from(ui.node) == []


async def test_personal_data_in_the_new_version_is_marked_and_waits_for_a_confirmation(
    fed: Federation, aiohttp_client: AiohttpClient
) -> None:
    ui, record_id = await shared_city(fed, aiohttp_client)
    await edit(ui, record_id, summary=f"Rückfragen unter {PHONE}")
    html = await (await ui.client.get(f"/records/{record_id}/update")).text()
    assert 'id="send-button"' not in html
    assert "pv-finding" in html
    token = await ui.token()
    unconfirmed = await ui.client.post(f"/records/{record_id}/update", data={"step": "confirm", "csrf_token": token})
    assert unconfirmed.status == 400
    assert "Bitte bestätigen" in error_of(await unconfirmed.text(), "pii_checked")
    confirmed = await ui.client.post(
        f"/records/{record_id}/update", data={"step": "confirm", "pii_checked": "1", "csrf_token": token}
    )
    html = await confirmed.text()
    assert 'id="send-button"' in html
    assert (await send(ui, record_id, html)).status == 303


async def test_with_four_eyes_the_new_version_goes_for_release(fed: Federation, aiohttp_client: AiohttpClient) -> None:
    ui, record_id = await shared_city(fed, aiohttp_client, four_eyes=True)
    await edit(ui, record_id)
    html = await (await ui.client.get(f"/records/{record_id}/update")).text()
    assert "Zur Freigabe senden: an Chemnitz und Dresden (TLP:AMBER)" in html
    assert (await send(ui, record_id, html)).status == 303
    assert {share["version"] for share in pending_shares(ui.node)} == {2}
    await fed.deliver(ui.node)
    assert fed.bytes_from(ui.node) == []


async def test_the_page_needs_a_login_and_a_form_with_its_token(fed: Federation, aiohttp_client: AiohttpClient) -> None:
    ui, record_id = await shared_city(fed, aiohttp_client)
    await edit(ui, record_id)
    html = await (await ui.client.get(f"/records/{record_id}/update")).text()
    no_token = await ui.client.post(
        f"/records/{record_id}/update", data={"step": "send", "version": "2", "digest": DIGEST.findall(html)}
    )
    assert no_token.status == 403
    await ui.client.post("/logout", data={"csrf_token": await ui.token()})
    logged_out = await ui.client.get(f"/records/{record_id}/update", allow_redirects=False)
    assert logged_out.status in (302, 303)
    assert logged_out.headers["Location"].startswith("/login")
    await fed.deliver(ui.node)
    assert fed.bytes_from(ui.node) == []


async def test_with_nothing_outdated_the_page_leads_back_to_the_report(
    fed: Federation, aiohttp_client: AiohttpClient
) -> None:
    ui, record_id = await shared_city(fed, aiohttp_client)
    response = await ui.client.get(f"/records/{record_id}/update", allow_redirects=False)
    assert response.status == 303
    assert response.headers["Location"] == f"/records/{record_id}"
