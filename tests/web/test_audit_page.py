"""Protokoll: the audit log newest first with its verification result, filters, pages and CSV/JSON export."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from node import audit
from node.exchange.inbox import ingest
from node.store import write
from tests.conftest import FakePeer, SetClock
from tests.node.test_audit import attacker
from tests.web.conftest import Ui, error_of

# Entries after the four `user.add` of the fixture: (hours after START, user, action, record id)
START = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)  # 09:00 in Bonn
LOGGED = [
    (0, "erika", "record.add", "rec1"),
    (1, "erika", "record.share", "rec1"),
    (2, "node", "sent", "rec1"),
    (26, "anton", "share.release", "rec2"),
    (27, "admin", "peer.add", None),
    (50, "node", "peer.pair", None),
]
SEQ = re.compile(r'data-seq="(\d+)"')


@pytest.fixture(autouse=True)
def _before_start(clock: SetClock) -> None:
    """The fixture's users are added the day before START."""
    clock.set(START - timedelta(days=1))


@pytest.fixture
def logged(ui: Ui, clock: SetClock) -> Ui:
    """The web interface of a node whose log holds the fixture's users and LOGGED at known times."""
    for hours, user, action, record_id in LOGGED:
        clock.set(START + timedelta(hours=hours))
        with write(ui.node.db) as conn:
            audit.append(conn, user=user, action=action, record_id=record_id, detail=f"{action} by {user}")
    clock.set(START + timedelta(days=5))
    return ui


def shown(html: str) -> list[int]:
    """The entry numbers the page lists, in their order."""
    return [int(seq) for seq in SEQ.findall(html)]


async def page(ui: Ui, query: str = "") -> tuple[int, str]:
    response = await ui.client.get(f"/audit{query}")
    return response.status, await response.text()


def row_of(html: str, seq: int) -> str:
    """The table row of entry `seq`."""
    found = re.search(rf'<tr class="kern-table__row" data-seq="{seq}">(.*?)</tr>', html, re.S)
    assert found, f"entry {seq} is not on the page"
    return found.group(1)


def cells(row: str) -> list[str]:
    return re.findall(r'<td class="kern-table__cell">(.*?)</td>', row, re.S)


def about(html: str, seq: int) -> str:
    """The "About record" cell of entry `seq`."""
    return cells(row_of(html, seq))[4]


def received_batch(ui: Ui, peer: FakePeer, envelopes: list[dict[str, Any]]) -> int:
    """Ingest `envelopes` from `peer` as one received transaction; the seq of its `received.batch` entry."""
    assert {r["status"] for r in ingest(ui.node, peer.node_id, envelopes)["results"]} == {"accepted"}
    [entry] = audit.list_entries(ui.node, limit=1, only=audit.EntryFilter(action="received.batch"))
    return int(entry["seq"])


async def test_every_user_sees_the_log_newest_first_with_its_verification(logged: Ui) -> None:
    for name in ("olga", "anton", "ada"):
        logged.client.session.cookie_jar.clear()
        await logged.login(name)
        status, html = await page(logged)
        assert status == 200
        assert "Protokoll unverändert (10 Einträge geprüft)" in html
        assert shown(html) == list(range(10, 0, -1))


@pytest.mark.parametrize(
    ("query", "seqs"),
    [
        ("?user=erika", [6, 5]),
        ("?user=ERIKA", []),
        ("?action=record.", [6, 5]),
        ("?action=peer.", [10, 9]),
        ("?action=user.add", [4, 3, 2, 1]),
        ("?record=rec1", [7, 6, 5]),
        ("?user=node&record=rec1", [7]),
        ("?since=02.03.2026", [10, 9, 8]),  # from the start of the day, in Bonn
        ("?until=01.03.2026", [7, 6, 5, 4, 3, 2, 1]),  # the whole day
        ("?since=01.03.2026+10:00&until=01.03.2026+11:00", [7, 6]),  # 09:00 and 10:00 UTC
        ("?since=2026-03-02T10:00:00%2B00:00", [10, 9, 8]),
        ("?action=%25", []),
    ],
)
async def test_filters(logged: Ui, query: str, seqs: list[int]) -> None:
    await logged.login("olga")
    status, html = await page(logged, query)
    assert status == 200
    assert shown(html) == seqs
    if not seqs:
        assert "Keine Einträge zu diesem Filter." in html


async def test_pages_go_back_through_the_log_and_keep_the_filter(ui: Ui) -> None:
    with write(ui.node.db) as conn:
        for n in range(60):
            audit.append(conn, user="erika" if n % 2 else "node", action="sent")
    await ui.login("olga")
    status, html = await page(ui, "?user=node&limit=25")
    assert status == 200
    first = shown(html)
    assert len(first) == 25
    assert first == sorted(first, reverse=True)
    older = re.search(r'href="/audit\?([^"]+)" rel="next"', html)
    assert older
    link = older.group(1).replace("&amp;", "&")
    assert f"before={first[-1]}" in link
    assert "user=node" in link
    _, html = await page(ui, f"?{link}")
    second = shown(html)
    assert len(second) == 5  # 30 entries by node
    assert max(second) < min(first)
    assert 'rel="next"' not in html
    assert "Neueste Einträge" in html


@pytest.mark.parametrize(
    ("query", "field", "message"),
    [
        ("?since=gestern", "since", "Bitte ein Datum wie 31.12.2026"),
        ("?since=32.13.2026", "since", "Bitte ein Datum wie 31.12.2026"),
        ("?since=01.01.0001", "since", "Bitte ein Datum wie 31.12.2026"),
        ("?until=31.12.9999", "until", "Bitte ein Datum wie 31.12.2026"),
        ("?until=" + "1" * 129, "until", "Bitte ein Datum wie 31.12.2026"),  # Python would read it
        ("?since=02.03.2026&until=01.03.2026", "until", "Das Ende muss nach dem Anfang liegen."),
        ("?user=" + "x" * 4_000, "user", "Bitte höchstens 128 Zeichen."),
        ("?action=" + "ä" * 1_000, "action", "Bitte höchstens 128 Zeichen."),
        ("?record=" + "r" * 129, "record", "Bitte höchstens 128 Zeichen."),
        ("?before=abc", "before", "Bitte eine Eintragsnummer angeben"),
        ("?before=0", "before", "Bitte eine Eintragsnummer angeben"),
        ("?before=-3", "before", "Bitte eine Eintragsnummer angeben"),
        ("?before=1e5", "before", "Bitte eine Eintragsnummer angeben"),
        ("?before=" + "9" * 400, "before", "Bitte eine Eintragsnummer angeben"),
        ("?limit=abc", "limit", "Bitte eine der Seitengrößen 25, 50, 100, 200 wählen."),
        ("?limit=7", "limit", "Bitte eine der Seitengrößen"),
        ("?limit=" + "9" * 400, "limit", "Bitte eine der Seitengrößen"),
    ],
)
async def test_a_hostile_filter_is_named_next_to_its_field(logged: Ui, query: str, field: str, message: str) -> None:
    await logged.login("olga")
    before = len(audit.list_entries(logged.node))
    for path in ("/audit", "/audit/export.csv", "/audit/export.json"):
        response = await logged.client.get(path + query)
        assert response.status == 400
        html = await response.text()
        assert message in error_of(html, field)
        assert shown(html) == []
        value = re.search(rf'id="{field}" name="{field}"[^>]*value="([^"]*)"', html)
        assert value is None or len(value.group(1)) <= 128 * len("&#39;")  # a long filter is shown cut short
    assert len(audit.list_entries(logged.node)) == before


async def test_a_10_kb_filter_is_refused_by_the_server_without_a_failure(logged: Ui) -> None:
    await logged.login("olga")
    for path in ("/audit", "/audit/export.csv"):
        response = await logged.client.get(f"{path}?user={'x' * 10_240}")
        assert response.status == 400  # the request line is longer than aiohttp reads (8190 bytes)


async def test_the_csv_export_holds_the_filtered_entries_as_an_attachment(logged: Ui) -> None:
    await logged.login("olga")
    response = await logged.client.get("/audit/export.csv?action=record.&limit=25&before=3")
    assert response.status == 200
    assert response.content_type == "text/csv"
    assert response.charset == "utf-8"
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith("attachment;")
    assert re.search(r'filename="praevnet-protokoll-[0-9-]+\.csv"', disposition)
    rows = list(csv.DictReader(io.StringIO(await response.text())))
    assert [row["seq"] for row in rows] == ["5", "6"]  # every page of the filter, oldest first
    assert rows[0]["detail"] == "record.add by erika"
    assert rows[0]["hash"] == audit.list_entries(logged.node)[4]["hash"]


async def test_the_json_export_names_its_filter_and_holds_those_entries(logged: Ui) -> None:
    await logged.login("olga")
    response = await logged.client.get("/audit/export.json?user=node&since=01.03.2026")
    assert response.status == 200
    assert response.content_type == "application/json"
    assert response.headers["Content-Disposition"].startswith("attachment;")
    document: dict[str, Any] = json.loads(await response.read())
    assert [entry["seq"] for entry in document["entries"]] == [7, 10]
    assert document["filter"] == {"user": "node", "since": "2026-02-28T23:00:00Z"}
    assert document["head"] == audit.head(logged.node)


async def test_an_unfiltered_export_is_the_whole_log(logged: Ui) -> None:
    await logged.login("olga")
    document = json.loads(await (await logged.client.get("/audit/export.json")).read())
    assert "filter" not in document
    assert document["entries"] == audit.list_entries(logged.node)
    text = await (await logged.client.get("/audit/export.csv")).text()
    assert text == audit.export(logged.node, "csv")


async def test_a_tampered_log_is_shown_loudly_at_the_top(logged: Ui) -> None:
    with attacker(logged.node) as conn:
        conn.execute("UPDATE audit SET user = 'mallory' WHERE seq = 6")
    await logged.login("olga")
    status, html = await page(logged)
    assert status == 200
    assert "Das Protokoll wurde VERÄNDERT" in html
    assert "entry 6 was changed" in html
    assert "Protokoll unverändert" not in html
    assert 'kern-alert--danger" role="alert" id="verification"' in html


async def test_a_deleted_last_entry_is_shown_too(logged: Ui) -> None:
    with attacker(logged.node) as conn:
        conn.execute("DELETE FROM audit WHERE seq = 10")
    await logged.login("olga")
    _, html = await page(logged)
    assert "the last entry was deleted" in html
    assert shown(html)[0] == 9


async def test_the_log_cannot_be_posted_to(logged: Ui) -> None:
    await logged.login("olga")
    before = len(audit.list_entries(logged.node))
    assert (await logged.post("/audit", {"user": "x"})).status == 405
    assert (await logged.post("/audit/export.csv", {})).status == 405
    assert (await logged.client.get("/audit/export.xml")).status == 404
    assert len(audit.list_entries(logged.node)) == before


@pytest.mark.parametrize(("language", "summary"), [("de", "3 Datensätze"), ("en", "3 records")])
async def test_a_batch_entry_shows_how_many_records_it_lists_and_each_id_and_version(
    ui: Ui, language: str, summary: str
) -> None:
    chemnitz = FakePeer("Stadt Chemnitz", "http://127.0.0.1:9").trusted_by(ui.node)
    first = chemnitz.envelope(record_id="chemnitz-senioren-2026")
    envelopes = [
        first,
        chemnitz.envelope(),
        chemnitz.envelope({"title": "Neu", "summary": "Text"}, version=2, record_id=first["id"]),
    ]
    seq = received_batch(ui, chemnitz, envelopes)
    await ui.login("olga")
    if language == "en":
        await ui.post("/language", {"language": "en", "next": "/"})
    status, html = await page(ui)
    assert status == 200
    assert f'lang="{language}"' in html
    cell = about(html, seq)
    assert re.search(rf"<summary[^>]*>{summary}</summary>", cell)
    listed = re.findall(r'<li><code class="pv-id">([^<]*)</code> v(\d+)', cell)
    assert listed == [(e["id"], str(e["version"])) for e in envelopes]
    assert '<details class="pv-listed">' in cell  # closed until the officer opens it


async def test_a_hostile_record_id_in_a_batch_entry_is_shown_escaped(ui: Ui) -> None:
    """A peer's envelope ids are checked (protocol.envelope.ID_RE) before they reach the log, but the page must
    not rely on that: the audit accepts any non-blank text as a record id, so the entry is written as such."""
    hostile = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    long_id = "A" * 2_000
    items = [(hostile, 1), (long_id, 7)]
    records = [
        {"action": "received", "record_id": r, "version": v, "digest": audit.digest_of(r.encode()), "detail": None}
        for r, v in items
    ]
    peer = FakePeer("Stadt Chemnitz", "http://127.0.0.1:9").trusted_by(ui.node)
    batch = {
        "user": "node",
        "action": "received.batch",
        "recipients": [peer.node_id],
        "detail": "2 envelope(s) stored",
        "records": records,
    }
    with write(ui.node.db) as conn:
        seq = audit.append_many(conn, [batch])
    await ui.login("olga")
    status, html = await page(ui)
    assert status == 200
    cell = about(html, seq)
    escaped = "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;"
    assert f'<code class="pv-id">{escaped}</code> v1' in cell
    assert f'<code class="pv-id">{long_id}</code> v7' in cell  # may break anywhere (praevnet.css)
    assert "<script>alert" not in html
    assert "<img src=x" not in html
    css = await (await ui.client.get("/static/praevnet.css")).text()
    assert re.search(r"\.pv-id \{[^}]*overflow-wrap: anywhere", css)


async def test_the_record_filter_shows_the_batch_entry_with_that_record_first(ui: Ui) -> None:
    chemnitz = FakePeer("Stadt Chemnitz", "http://127.0.0.1:9").trusted_by(ui.node)
    envelopes = [chemnitz.envelope() for _ in range(3)]
    seq = received_batch(ui, chemnitz, envelopes)
    other = received_batch(ui, chemnitz, [chemnitz.envelope()])
    wanted = envelopes[1]["id"]
    await ui.login("olga")
    status, html = await page(ui, f"?record={wanted}")
    assert status == 200
    assert shown(html) == [seq]
    cell = about(html, seq)
    assert re.search(r'<details class="pv-listed" open>\s*<summary[^>]*>3 Datensätze</summary>', cell)
    listed = re.findall(r'<li>(?:<mark class="pv-match">)?<code class="pv-id">([^<]*)</code>', cell)
    assert listed == [wanted, envelopes[0]["id"], envelopes[2]["id"]]  # the filtered record first
    assert f'<mark class="pv-match"><code class="pv-id">{wanted}</code></mark>' in cell
    _, html = await page(ui)
    assert shown(html)[:2] == [other, seq]
    assert "<mark" not in about(html, seq)


async def test_a_batch_entry_whose_records_were_changed_still_shows_what_it_holds(ui: Ui) -> None:
    chemnitz = FakePeer("Stadt Chemnitz", "http://127.0.0.1:9").trusted_by(ui.node)
    seq = received_batch(ui, chemnitz, [chemnitz.envelope()])
    with attacker(ui.node) as conn:
        conn.execute("UPDATE audit SET records = ? WHERE seq = ?", ('<b>"not json"', seq))
    await ui.login("olga")
    status, html = await page(ui)
    assert status == 200
    assert f"entry {seq} was changed" in html
    cell = about(html, seq)
    assert "1 Datensatz<" in cell
    assert '<code class="pv-id">&lt;b&gt;&#34;not json&#34;</code>' in cell
