"""Freigaben: approvers see what waits with its preview, release it as shown, or reject it with a comment.

Bonn (four-eyes release on) serves its web interface in-process; Chemnitz is a real node on loopback,
so what a release lets out is taken from the bytes that crossed the wire.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from pytest_aiohttp import AiohttpClient

from node import audit
from node.sharing.records import add_record
from node.sharing.release import list_shares, pending_shares
from node.sharing.shares import share_record
from node.users import Actor
from protocol.canonical import canonical_bytes
from tests.node.federation import Federation
from tests.web.conftest import Ui
from tests.web.test_share import LOCAL_NOTE, RECORD, city_ui, queued

OLGA, ANTON = Actor("olga", "officer"), Actor("anton", "approver")
COMMENT = "Bitte die Zielgruppen genauer fassen."
PHONE = "0821 324-1234"


@pytest.fixture
async def fed(tmp_path: Path) -> AsyncIterator[Federation]:
    federation = Federation(tmp_path)
    yield federation
    await federation.close()


@pytest.fixture
async def ui(fed: Federation, aiohttp_client: AiohttpClient) -> Ui:
    """Bonn's interface with four-eyes release, olga logged in."""
    return await city_ui(fed, aiohttp_client, four_eyes=True)


def requested(ui: Ui, fed: Federation, by: Actor = OLGA, content: dict[str, Any] = RECORD) -> dict[str, Any]:
    """`by` asked to share a record (its costs kept local) with Chemnitz; return the waiting share."""
    record_id = add_record(ui.node, "experience", content, local=["implementation.costs"], by=by)
    share_record(ui.node, record_id, [fed.nodes["Chemnitz"].node_id], all_peers=False, by=by, confirm_pii=True)
    [waiting] = [s for s in pending_shares(ui.node) if s["record_id"] == record_id]
    return waiting


async def decide(ui: Ui, waiting: dict[str, Any], **fields: str) -> Any:
    data = {"share": str(waiting["id"]), "version": str(waiting["version"]), "sha256": waiting["sha256"], **fields}
    return await ui.post("/releases", data, allow_redirects=False)


async def test_an_approver_sees_what_waits_with_its_preview(ui: Ui, fed: Federation) -> None:
    content = {**RECORD, "summary": f"Rückfragen unter {PHONE} beim Ordnungsamt."}
    waiting = requested(ui, fed, content=content)
    await ui.login("anton")
    page = await ui.client.get("/releases")
    html = await page.text()
    assert page.status == 200
    assert "Sicherheitsaudit Innenstadt" in html
    assert "olga" in html
    assert "Chemnitz" in html
    assert "TLP:AMBER" in html
    assert "Die empfangende Stadt und, wo nötig, ihre Partner vor Ort" in html
    assert "Vorschau: genau das verlässt die Stadt" in html
    assert re.search(rf'<mark class="pv-finding"[^>]*>{re.escape(PHONE)}<', html)
    assert "Kosten" in html[html.index("wird nicht geteilt") :]
    assert LOCAL_NOTE not in html
    assert waiting["sha256"] in html
    assert "Freigeben: an Chemnitz (TLP:AMBER)" in html


async def test_nothing_waiting_says_so(ui: Ui) -> None:
    await ui.login("anton")
    assert "Nichts wartet auf Freigabe." in await (await ui.client.get("/releases")).text()


async def test_a_release_lets_out_exactly_the_previewed_bytes(ui: Ui, fed: Federation) -> None:
    waiting = requested(ui, fed)
    await ui.login("anton")
    response = await decide(ui, waiting, action="release")
    assert response.status == 303
    assert response.headers["Location"] == "/releases"
    assert pending_shares(ui.node) == []
    assert ui.node.db.execute("SELECT count(*) FROM grants").fetchone()[0] == 1
    [entry] = [e for e in audit.list_entries(ui.node) if e["action"] == "share.release"]
    assert (entry["user"], entry["digest"]) == ("anton", waiting["sha256"])
    await fed.deliver(ui.node)
    [envelope] = [e for w in fed.bytes_from(ui.node) for e in w.envelopes()]
    assert audit.digest_of(canonical_bytes(envelope)) == waiting["sha256"]
    assert LOCAL_NOTE not in canonical_bytes(envelope).decode()
    assert "1 Freigabe erteilt." in await (await ui.client.get("/releases")).text()


async def test_the_requester_cannot_release_their_own_share(ui: Ui, fed: Federation) -> None:
    waiting = requested(ui, fed, by=ANTON)
    await ui.login("anton")
    page = await (await ui.client.get("/releases")).text()
    assert f'id="s{waiting["id"]}-own"' in page
    assert "Freigeben: an Chemnitz" not in page  # the button is not offered; a post of the form is refused:
    before = queued(ui.node)
    response = await decide(ui, waiting, action="release")
    html = await response.text()
    assert response.status == 409
    assert "anton requested share" in html[html.index('id="notice"') :]
    assert queued(ui.node) == before
    await ui.login("ada")  # an administrator is a second person with the right to release
    assert (await decide(ui, waiting, action="release")).status == 303
    assert pending_shares(ui.node) == []
    assert ui.node.db.execute("SELECT count(*) FROM deliveries").fetchone()[0] == 1


async def test_a_release_naming_other_bytes_is_refused(ui: Ui, fed: Federation) -> None:
    waiting = requested(ui, fed)
    await ui.login("anton")
    before = queued(ui.node)
    response = await decide(ui, {**waiting, "sha256": "sha256:" + "A" * 43}, action="release")
    assert response.status == 409
    assert "look at it again" in await response.text()
    assert queued(ui.node) == before


async def test_a_rejection_needs_a_comment_next_to_its_field(ui: Ui, fed: Federation) -> None:
    waiting = requested(ui, fed)
    await ui.login("anton")
    before = queued(ui.node)
    field = f"comment-s{waiting['id']}"
    for comment, message in (("   ", "Bitte schreiben Sie, warum"), ("x" * 1001, "Höchstens 1000 Zeichen")):
        response = await decide(ui, waiting, action="reject", comment=comment)
        html = await response.text()
        assert response.status == 400
        assert message in html[html.index(f'id="{field}-error"') :][:400]
        assert queued(ui.node) == before
        assert [s["id"] for s in pending_shares(ui.node)] == [waiting["id"]]


async def test_a_rejection_reaches_the_author_with_its_comment_and_nothing_leaves(ui: Ui, fed: Federation) -> None:
    waiting = requested(ui, fed)
    await ui.login("anton")
    response = await decide(ui, waiting, action="reject", comment=COMMENT)
    assert response.status == 303
    assert pending_shares(ui.node) == []
    [mine] = list_shares(ui.node, requested_by="olga")
    assert (mine["state"], mine["rejected_by"], mine["reject_comment"]) == ("rejected", "anton", COMMENT)
    await fed.deliver(ui.node)
    assert fed.bytes_from(ui.node) == []


async def test_officers_may_not_open_or_post_releases(ui: Ui, fed: Federation) -> None:
    waiting = requested(ui, fed)
    before = queued(ui.node)
    assert (await ui.client.get("/releases")).status == 403
    assert (await decide(ui, waiting, action="release")).status == 403
    assert (await decide(ui, waiting, action="reject", comment=COMMENT)).status == 403
    assert queued(ui.node) == before
    assert "Freigaben" not in await (await ui.client.get("/")).text()  # not offered in the navigation


@pytest.mark.parametrize(
    "fields",
    [
        {"action": "jump"},
        {"action": "release", "share": "eins"},
        {"action": "release", "share": ""},
        {"action": "release", "version": "zwei"},
    ],
)
async def test_malformed_decisions_are_refused(ui: Ui, fed: Federation, fields: dict[str, str]) -> None:
    waiting = requested(ui, fed)
    await ui.login("anton")
    before = queued(ui.node)
    assert (await decide(ui, waiting, **fields)).status == 400
    assert queued(ui.node) == before


async def test_unknown_shares_and_missing_tokens_are_refused(ui: Ui, fed: Federation) -> None:
    waiting = requested(ui, fed)
    await ui.login("anton")
    before = queued(ui.node)
    unknown = await decide(ui, {**waiting, "id": 999}, action="release")
    assert unknown.status == 409
    assert "no share with id 999" in await unknown.text()
    no_token = await ui.post("/releases", {"action": "release", "share": str(waiting["id"])}, csrf=False)
    assert no_token.status == 403
    assert (await ui.client.put("/releases")).status in (403, 405)
    assert queued(ui.node) == before
