"""Eingang und Suche and Bericht: what peers sent and one's own, searched in German, filtered, and one received
record with its origin, signature check, versions and state; bad searches are named at their field."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from html import unescape
from typing import Any

import pytest

from node.exchange.inbox import ingest
from node.sharing.records import add_record
from node.users import ADMIN
from tests.conftest import FakePeer, SetClock
from tests.node.search.conftest import receive
from tests.web.conftest import Ui, error_of

BURGLARY = {
    "title": "Sicherheit in der Hauptstraße",
    "summary": "Beratung gegen Wohnungseinbruchdiebstahl in Mehrfamilienhäusern",
    "topics": ["Wohnungseinbruch"],
    "evidence_level": "probable",
}
PARKS = {"title": "Parkpaten", "summary": "Bürgerinnen kümmern sich um Grünanlagen", "topics": ["Vandalismus"]}


@pytest.fixture
def bonn(ui: Ui) -> FakePeer:
    return FakePeer("Stadt Bonn", "http://127.0.0.1:9").trusted_by(ui.node)


@pytest.fixture
def chemnitz(ui: Ui) -> FakePeer:
    return FakePeer("Stadt Chemnitz", "http://127.0.0.1:10").trusted_by(ui.node)


def alert(expires: datetime) -> dict[str, Any]:
    return {
        "headline": "Falsche Polizeibeamte am Telefon",
        "area": {"name": "Innenstadt"},
        "expires": expires.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "description": "Anrufer geben sich als Polizei aus",
    }


def hit_ids(html: str) -> list[str]:
    """The record ids of the hits a search page lists, in order."""
    return re.findall(r'data-pv-id="([^"]+)"', html)


def marked(html: str) -> list[str]:
    """The texts a page marks as matches."""
    return [unescape(text) for text in re.findall(r'<mark class="pv-match">([^<]*)</mark>', html)]


async def page(ui: Ui, path: str, status: int = 200) -> str:
    response = await ui.client.get(path)
    text = await response.text()
    assert response.status == status, text
    return text


async def test_without_search_words_it_lists_everything_received_and_own_newest_first(ui: Ui, bonn: FakePeer) -> None:
    await ui.login("olga")
    own = add_record(ui.node, "experience", PARKS, tlp="TLP:GREEN", by=ADMIN)
    received = receive(ui.node, bonn, BURGLARY)
    html = await page(ui, "/inbox")
    assert set(hit_ids(html)) == {own, received}
    assert f'href="/records/{own}"' in html
    assert f'href="/inbox/{bonn.node_id}/{received}"' in html
    assert "von Stadt Bonn" in html


async def test_an_umlaut_word_typed_without_umlaut_finds_it_and_the_original_is_marked(ui: Ui, bonn: FakePeer) -> None:
    await ui.login("olga")
    wanted = receive(ui.node, bonn, BURGLARY)
    receive(ui.node, bonn, PARKS)
    html = await page(ui, "/inbox?q=Hauptstrasse")
    assert hit_ids(html) == [wanted]
    assert "Hauptstraße" in marked(html)
    assert "1 Treffer" in html


async def test_part_of_a_compound_finds_the_compound(ui: Ui, bonn: FakePeer) -> None:
    await ui.login("olga")
    wanted = receive(ui.node, bonn, BURGLARY)
    receive(ui.node, bonn, PARKS)
    html = await page(ui, "/inbox?q=Einbruch")
    assert hit_ids(html) == [wanted]
    assert any("einbruch" in text.casefold() for text in marked(html))


async def test_filters_narrow_by_origin_kind_evidence_label_and_topic(
    ui: Ui, bonn: FakePeer, chemnitz: FakePeer
) -> None:
    await ui.login("olga")
    from_bonn = receive(ui.node, bonn, BURGLARY)
    from_chemnitz = receive(ui.node, chemnitz, {**BURGLARY, "evidence_level": "proven"}, tlp="TLP:GREEN")
    own = add_record(ui.node, "experience", BURGLARY, tlp="TLP:AMBER", by=ADMIN)
    assert hit_ids(await page(ui, f"/inbox?q=Einbruch&origin={bonn.node_id}")) == [from_bonn]
    assert hit_ids(await page(ui, "/inbox?q=Einbruch&origin=own")) == [own]
    assert set(hit_ids(await page(ui, "/inbox?q=Einbruch&evidence=probable"))) == {from_bonn, own}
    assert hit_ids(await page(ui, "/inbox?q=Einbruch&tlp=TLP%3AGREEN")) == [from_chemnitz]
    assert hit_ids(await page(ui, "/inbox?kind=alert")) == []
    html = await page(ui, "/inbox?topic=Wohnungseinbruch")
    assert set(hit_ids(html)) == {from_bonn, from_chemnitz, own}
    assert '<option value="Wohnungseinbruch"' in html  # the topics offered are those the index holds


async def test_the_period_is_typed_as_german_days(ui: Ui, bonn: FakePeer, clock: SetClock) -> None:
    await ui.login("olga")
    wanted = receive(ui.node, bonn, BURGLARY)
    today = datetime.now(UTC).strftime("%d.%m.%Y")
    assert hit_ids(await page(ui, f"/inbox?since={today}&until={today}&date_of=received")) == [wanted]
    assert hit_ids(await page(ui, "/inbox?until=01.01.2020")) == []


@pytest.mark.parametrize(
    ("query", "field", "german"),
    [
        ("since=31.02.2026", "since", "Bitte ein Datum wie 31.12.2026 angeben."),
        ("until=morgen", "until", "Bitte ein Datum wie 31.12.2026 angeben."),
        ("since=02.03.2026&until=01.03.2026", "until", "Das Ende muss nach dem Anfang liegen."),
        ("q=ab", "q", "Suchbegriffe brauchen mindestens 3 Buchstaben"),
        ("q=" + "+".join(f"wort{n}" for n in range(21)), "q", "höchstens 20 Suchbegriffe"),
        ("q=" + "x" * 501, "q", "höchstens 500 Zeichen"),
        ("kind=bogus", "kind", "Bitte eine Art aus der Liste wählen."),
        ("evidence=sehr", "evidence", "Bitte eine Evidenzstufe aus der Liste wählen."),
        ("tlp=TLP:PURPLE", "tlp", "Bitte ein"),
        ("origin=Niemandsdorf", "origin", "Niemandsdorf"),
        ("date_of=yesterday", "date_of", "auf welches Datum"),
        ("page=0", "page", None),
        ("page=abc", "page", None),
    ],
)
async def test_a_search_that_cannot_run_is_named_at_its_field_in_german(
    ui: Ui, bonn: FakePeer, query: str, field: str, german: str | None
) -> None:
    await ui.login("olga")
    receive(ui.node, bonn, BURGLARY)
    html = await page(ui, f"/inbox?{query}", status=400)
    assert hit_ids(html) == []
    if german is not None:
        assert german in error_of(html, field)
    else:
        assert "Diese Seite gibt es nicht." in html


async def test_what_is_typed_is_shown_escaped_and_never_read_as_query_syntax(ui: Ui, bonn: FakePeer) -> None:
    await ui.login("olga")
    receive(ui.node, bonn, {"title": 'Bericht "<b>fett</b>" OR NOT', "summary": "x"})
    html = await page(ui, "/inbox?q=%22%3Cb%3Efett%22+OR+NEAR(")
    assert "<b>fett</b>" not in html
    assert "&lt;b&gt;fett" in html


async def test_a_page_of_hits_links_to_the_next(ui: Ui, bonn: FakePeer) -> None:
    await ui.login("olga")
    ids = [receive(ui.node, bonn, {"title": f"Einbruchschutz {n}", "summary": "x"}) for n in range(25)]
    first = await page(ui, "/inbox?q=Einbruchschutz")
    second = await page(ui, "/inbox?q=Einbruchschutz&page=2")
    assert len(hit_ids(first)) == 20
    assert len(hit_ids(second)) == 5
    assert set(hit_ids(first)) | set(hit_ids(second)) == set(ids)
    assert "q=Einbruchschutz&amp;page=2" in first
    assert "Seite 2 von 2" in second


async def test_the_search_needs_a_login(ui: Ui) -> None:
    response = await ui.client.get("/inbox?q=Einbruch", allow_redirects=False)
    assert response.status in (302, 303)
    assert response.headers["Location"].startswith("/login")


async def test_a_received_record_shows_its_origin_verified_label_content_and_versions(ui: Ui, bonn: FakePeer) -> None:
    await ui.login("olga")
    record_id = receive(ui.node, bonn, BURGLARY)
    second = {**BURGLARY, "title": "Sicherheit in der Hauptstraße, 2. Fassung"}
    receive(ui.node, bonn, second, record_id=record_id, version=2)
    html = await page(ui, f"/inbox/{bonn.node_id}/{record_id}")
    assert 'data-pv-verified="yes"' in html
    assert "Herkunft geprüft: Dies stammt unverändert von Stadt Bonn." in html
    assert "2. Fassung" in html
    assert "Wohnungseinbruchdiebstahl" in html
    assert "TLP:AMBER" in html
    assert 'data-pv-state="current"' in html
    versions = re.search(r'<table[^>]*id="versions".*?</table>', html, re.S)
    assert versions
    assert versions.group(0).count("<tr") == 3  # header and two versions
    assert "noch nicht mit der Stadt abgeglichen" in html


async def test_a_record_whose_signature_no_longer_verifies_is_shown_as_not_checked(ui: Ui, bonn: FakePeer) -> None:
    await ui.login("olga")
    record_id = receive(ui.node, bonn, BURGLARY)
    stored = json.loads(ui.node.db.execute("SELECT envelope FROM inbox WHERE id = ?", (record_id,)).fetchone()[0])
    stored["content"]["summary"] = "Nachträglich verändert"
    ui.node.db.execute("UPDATE inbox SET envelope = ? WHERE id = ?", (json.dumps(stored), record_id))
    html = await page(ui, f"/inbox/{bonn.node_id}/{record_id}")
    assert 'data-pv-verified="no"' in html
    assert "NICHT geprüft" in html


async def test_a_retracted_record_says_so_and_shows_no_content(ui: Ui, bonn: FakePeer) -> None:
    await ui.login("olga")
    record_id = receive(ui.node, bonn, BURGLARY)
    ingest(ui.node, bonn.node_id, [bonn.envelope(kind="retraction", record_id=record_id)])
    html = await page(ui, f"/inbox/{bonn.node_id}/{record_id}")
    assert 'data-pv-state="retracted"' in html
    assert "Wohnungseinbruchdiebstahl" not in html
    assert hit_ids(await page(ui, "/inbox?q=Einbruch")) == []


async def test_an_unknown_record_or_origin_is_not_found(ui: Ui, bonn: FakePeer) -> None:
    await ui.login("olga")
    record_id = receive(ui.node, bonn, BURGLARY)
    other = FakePeer("Stadt Dortmund", "http://127.0.0.1:11")
    await page(ui, f"/inbox/{bonn.node_id}/rec-unknown", status=404)
    await page(ui, f"/inbox/{other.node_id}/{record_id}", status=404)
    await page(ui, f"/inbox/not-a-node/{record_id}", status=404)


async def test_the_own_node_as_origin_leads_to_the_own_record(ui: Ui) -> None:
    await ui.login("olga")
    own = add_record(ui.node, "experience", PARKS, tlp="TLP:GREEN", by=ADMIN)
    response = await ui.client.get(f"/inbox/{ui.node.node_id}/{own}", allow_redirects=False)
    assert response.status == 303
    assert response.headers["Location"] == f"/records/{own}"


async def test_a_received_alert_is_current_until_it_expires_then_listed_only_on_request(
    ui: Ui, bonn: FakePeer, clock: SetClock
) -> None:
    start = clock.set(datetime.now(UTC))
    await ui.login("olga")
    record_id = receive(ui.node, bonn, alert(start + timedelta(hours=2)), kind="alert")
    assert "Falsche Polizeibeamte" in await page(ui, "/")
    assert hit_ids(await page(ui, "/inbox?kind=alert")) == [record_id]
    clock.advance(timedelta(hours=3))
    await ui.login("olga")  # the session lapsed meanwhile
    overview = await page(ui, "/")
    assert "Falsche Polizeibeamte" not in overview
    assert hit_ids(await page(ui, "/inbox?kind=alert")) == []
    assert hit_ids(await page(ui, "/inbox?kind=alert&lapsed=1")) == [record_id]
    html = await page(ui, f"/inbox/{bonn.node_id}/{record_id}")
    assert 'data-pv-state="expired"' in html
