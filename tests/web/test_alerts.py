"""Warnmeldung senden: the alert form (CAP choices, the band for an exact count, required expiry), the preview of
exactly what leaves, and sending exactly that.

Bonn runs its web interface in-process; Chemnitz and Dresden are real nodes on loopback
(tests/node/federation.py), so what leaves is taken from the bytes that crossed the wire.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from html import unescape
from pathlib import Path
from typing import Any

import pytest
from pytest_aiohttp import AiohttpClient

from node import audit
from node.home import Node
from node.sharing.records import add_record, get_record
from node.sharing.release import list_shares, reject_share
from node.users import Actor
from protocol.canonical import canonical_bytes
from protocol.records import case_band, case_bands
from tests.conftest import SetClock
from tests.node.federation import Federation
from tests.web.conftest import Ui, city, error_of

ALERT: dict[str, str] = {
    "headline": "Falsche Polizeibeamte am Telefon",
    "phenomenon": "Callcenterbetrug",
    "area.name": "Bad Godesberg",
    "area.ars": "053140000000",
    "description": "LOCAL-DESCRIPTION-77e1 Anrufer geben sich als Polizei aus.",
    "urgency": "Immediate",
    "severity": "Moderate",
    "certainty": "Observed",
    "trend": "rising",
    "case_count": "7",
    "instruction": "Auflegen und die 110 wählen.",
    "source": "Pressemitteilung der Polizei",
    "expires": "31.12.2026 18:00",
    "internal_notes": "LOCAL-NOTE-alert-5d2a",
    "tlp": "TLP:AMBER",
}
HIDDEN = re.compile(r'name="(version|sha256)" value="([^"]*)"')


@pytest.fixture
async def fed(tmp_path: Path, clock: SetClock) -> AsyncIterator[Federation]:
    clock.set(datetime(2026, 12, 1, 9, 0, tzinfo=UTC))
    federation = Federation(tmp_path)
    yield federation
    await federation.close()


@pytest.fixture
async def ui(fed: Federation, aiohttp_client: AiohttpClient) -> Ui:
    return await city(fed, aiohttp_client)


def stored(node: Node) -> dict[str, int]:
    """What a refused alert must leave as it was."""
    tables = ("records", "versions", "envelopes", "shares", "grants", "deliveries")
    counts = {t: node.db.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in tables}
    return {**counts, "audit": len(audit.list_entries(node))}


async def draft(ui: Ui, *to: Node, **changes: str) -> Any:
    """Post the alert form, with `changes`, for the named partners `to`."""
    return await _post(ui, [*{**ALERT, **changes, "audience": "peers"}.items(), *(("to", n.node_id) for n in to)])


async def _post(ui: Ui, data: list[tuple[str, str]]) -> Any:
    token = await ui.token()
    return await ui.client.post("/alerts/new", data=[*data, ("csrf_token", token)], allow_redirects=False)


async def previewed(ui: Ui, *to: Node, **changes: str) -> tuple[str, str]:
    """Post the alert form for `to`; return the alert's id and the preview page it leads to."""
    response = await draft(ui, *to, **changes)
    assert response.status == 303, await response.text()
    location = response.headers["Location"]
    record_id = location.split("/")[2]
    page = await ui.client.get(location)
    assert page.status == 200
    return record_id, await page.text()


async def send(ui: Ui, record_id: str, html: str, *to: Node) -> Any:
    pinned = dict(HIDDEN.findall(html))
    data = [("audience", "peers"), *(("to", n.node_id) for n in to), *pinned.items(), ("csrf_token", await ui.token())]
    return await ui.client.post(f"/alerts/{record_id}/send", data=data, allow_redirects=False)


def band_shown(html: str) -> str:
    found = re.search(r'id="case_count-band"[^>]*>([^<]*)<', html)
    assert found
    return unescape(found.group(1))


async def test_the_form_offers_the_cap_choices_and_the_bands_of_this_node(ui: Ui) -> None:
    html = await (await ui.client.get("/alerts/new")).text()
    for name in ("headline", "phenomenon", "area.name", "area.ars", "description", "instruction", "source"):
        assert f'name="{name}"' in html
    for name, value, german in [
        ("urgency", "Immediate", "sofort"),
        ("severity", "Extreme", "extrem"),
        ("certainty", "Observed", "beobachtet (bestätigte Polizeimeldungen)"),
        ("trend", "falling", "fallend"),
    ]:
        select = html[html.index(f'name="{name}"') :]
        assert f'<option value="{value}">{german}</option>' in select[: select.index("</select>")]
    assert "Stadtteil, Bezirk oder ARS \u2013 niemals Adressen." in html
    assert "Gültig bis" in html
    assert "Pflichtangabe" in html
    k = ui.node.config.alerts.small_number_threshold
    bands = re.search(r'data-pv-bands="([^"]*)"', html)
    assert bands
    assert json.loads(unescape(bands.group(1))) == [
        [n, band] for n, band in zip((0, k, 2 * k, 4 * k), case_bands(k), strict=True)
    ]
    assert 'data-pv-band-target="case_count-band"' in html
    assert "Bleibt immer lokal" in html[html.index('id="internal_notes"') :]


@pytest.mark.parametrize("count", [3, 7, 25])
async def test_the_band_shown_for_a_count_is_the_one_the_node_seals(ui: Ui, count: int) -> None:
    before = stored(ui.node)
    response = await draft(ui, headline="", case_count=str(count))  # refused: the form comes back with its band
    assert response.status == 400
    assert band_shown(await response.text()) == case_band(count, ui.node.config.alerts.small_number_threshold)
    assert stored(ui.node) == before


async def test_the_band_follows_the_nodes_threshold(fed: Federation, aiohttp_client: AiohttpClient) -> None:
    ui = await city(fed, aiohttp_client, {"alerts": {"small_number_threshold": 3}})
    response = await draft(ui, headline="", case_count="7")
    assert band_shown(await response.text()) == case_band(7, 3) == "6-11"


async def test_an_expiry_in_the_past_is_refused_and_nothing_is_stored(ui: Ui, fed: Federation) -> None:
    before = stored(ui.node)
    response = await draft(ui, fed.nodes["Chemnitz"], expires="30.11.2026 18:00")
    assert response.status == 400
    assert error_of(await response.text(), "expires") == (
        "Bitte ein Ablaufdatum in der Zukunft angeben, z. B. 31.12.2026 18:00"
    )
    assert stored(ui.node) == before


BAD_ALERTS = [
    ({"expires": ""}, "expires", "Bitte ein Ablaufdatum angeben, z. B. 31.12.2026 18:00"),
    ({"expires": "nächsten Freitag"}, "expires", "Bitte Datum und Uhrzeit so angeben: 31.12.2026 18:00"),
    ({"expires": "31.02.2027 10:00"}, "expires", "Bitte Datum und Uhrzeit so angeben: 31.12.2026 18:00"),
    ({"effective": "31.12.2026 20:00"}, "expires", "Das Ablaufdatum muss nach dem Beginn („Gültig ab“) liegen."),
    ({"headline": ""}, "headline", "Bitte eine Überschrift angeben."),
    ({"headline": "H" * 301}, "headline", "Höchstens 300 Zeichen."),
    (
        {"area.name": ""},
        "area.name",
        "Bitte das Gebiet angeben: Stadtteil, Bezirk oder ARS \u2013 niemals eine Adresse.",
    ),
    ({"area.ars": "Bonn-Mitte"}, "area.ars", "Der ARS besteht aus 2 bis 12 Ziffern, z. B. 053140000000."),
    ({"case_count": "sieben"}, "case_count", "Bitte eine ganze Zahl angeben, z. B. 7."),
    ({"case_count": "-2"}, "case_count", "Bitte eine ganze Zahl von 0 bis 1.000.000.000 angeben."),
    ({"urgency": "Now"}, "urgency", "Bitte einen Wert aus der Liste wählen."),
    ({"trend": "up"}, "trend", "Bitte einen Wert aus der Liste wählen."),
    (
        {"tlp": "TLP:RED", "audience": "all"},
        "tlp",
        "TLP:RED geht nur an namentlich ausgewählte Partner, nie an alle oder an ein Netzwerk.",
    ),
    ({"audience": ""}, "audience", "Bitte auswählen, wer die Meldung erhält."),
    ({"audience": "network", "network": ""}, "audience", "Bitte ein Netzwerk auswählen."),
]


@pytest.mark.parametrize(("changes", "field", "message"), BAD_ALERTS)
async def test_a_bad_entry_is_named_next_to_its_field_and_nothing_is_stored(
    ui: Ui, fed: Federation, changes: dict[str, str], field: str, message: str
) -> None:
    before = stored(ui.node)
    data = [*{**ALERT, "audience": "peers", **changes}.items(), ("to", fed.nodes["Chemnitz"].node_id)]
    response = await _post(ui, data)
    assert response.status == 400
    assert error_of(await response.text(), field) == message
    assert stored(ui.node) == before


async def test_no_partner_chosen_is_named(ui: Ui) -> None:
    before = stored(ui.node)
    response = await draft(ui)
    assert response.status == 400
    assert error_of(await response.text(), "audience") == "Bitte mindestens eine Partnerstadt auswählen."
    assert stored(ui.node) == before


async def test_every_problem_is_shown_at_once(ui: Ui, fed: Federation) -> None:
    response = await draft(ui, fed.nodes["Chemnitz"], headline="", expires="morgen", **{"area.ars": "x"})
    html = await response.text()
    assert error_of(html, "headline") == "Bitte eine Überschrift angeben."
    assert error_of(html, "expires") == "Bitte Datum und Uhrzeit so angeben: 31.12.2026 18:00"
    assert error_of(html, "area.ars").startswith("Der ARS besteht")
    assert 'value="morgen"' in html


async def test_the_preview_shows_what_leaves_and_the_send_sends_exactly_that(ui: Ui, fed: Federation) -> None:
    chemnitz, dresden = fed.nodes["Chemnitz"], fed.nodes["Dresden"]
    record_id, html = await previewed(ui, chemnitz, dresden, **{"local.description": "1"})
    assert get_record(ui.node, record_id)["local_fields"] == ["description"]
    assert not fed.wire  # nothing left so far
    assert "Vorschau: genau das verlässt die Stadt" in html
    assert "LOCAL-DESCRIPTION-77e1" not in html
    assert "LOCAL-NOTE-alert-5d2a" not in html
    absent = html[html.index("Bleibt lokal, wird nicht geteilt:") :]
    for label in ("Beschreibung", "Anzahl der Fälle (genau)", "Interne Notizen"):
        assert f"<li>{label}</li>" in absent
    assert 'data-pv-field="case_band"><span class="pv-pre">5-9</span>' in html
    assert "An Chemnitz und Dresden senden (TLP:AMBER)" in html
    previewed_sha = dict(HIDDEN.findall(html))["sha256"]
    response = await send(ui, record_id, html, chemnitz, dresden)
    assert response.status == 303
    assert response.headers["Location"] == f"/records/{record_id}"
    page = await (await ui.client.get(response.headers["Location"])).text()
    assert "Warnung gesendet an Chemnitz und Dresden (TLP:AMBER)." in page
    assert '<strong data-pv-field="case_band">5-9</strong>' in page
    edit = await (await ui.client.get(f"/records/{record_id}/edit")).text()
    assert "Speichern und Vorschau zeigen" in edit  # an edit of a shared alert leaves only after its preview
    await fed.deliver(ui.node)
    received = [e for w in fed.bytes_from(ui.node) for e in w.envelopes()]
    assert {w.receiver for w in fed.bytes_from(ui.node)} == {chemnitz.node_id, dresden.node_id}
    for envelope in received:
        assert audit.digest_of(canonical_bytes(envelope)) == previewed_sha
        content = envelope["content"]
        assert content["case_band"] == "5-9"
        assert not {"description", "internal_notes", "case_count"} & set(content)
        assert content["headline"] == ALERT["headline"]


async def test_a_send_without_a_preview_is_refused_and_nothing_is_queued(ui: Ui, fed: Federation) -> None:
    chemnitz = fed.nodes["Chemnitz"]
    record_id = add_record(
        ui.node,
        "alert",
        {"headline": "H", "area": {"name": "Bonn"}, "expires": "2026-12-31T17:00:00Z"},
        by=Actor("olga", "officer"),
    )
    before = stored(ui.node)
    forged = f'name="version" value="1" name="sha256" value="{"0" * 64}"'
    response = await send(ui, record_id, forged, chemnitz)
    assert response.status == 303
    assert response.headers["Location"].startswith(f"/alerts/{record_id}/preview")
    assert stored(ui.node) == before
    page = await (await ui.client.get(response.headers["Location"])).text()  # the preview, shown again
    assert "Die Warnung wurde seit der Vorschau geändert." in page


async def test_a_personal_datum_is_marked_and_blocks_until_confirmed(ui: Ui, fed: Federation) -> None:
    chemnitz = fed.nodes["Chemnitz"]
    record_id, html = await previewed(ui, chemnitz, instruction="Rückfragen an Herr Müller unter 0228 77-1234.")
    assert '<mark class="pv-finding"' in html
    assert 'name="sha256"' not in html  # nothing to send before the findings are dealt with
    token = await ui.token()
    data = {"audience": "peers", "to": chemnitz.node_id, "confirm_pii": "1", "csrf_token": token}
    confirmed = await ui.client.post(f"/alerts/{record_id}/preview", data=data)
    html = await confirmed.text()
    assert 'name="sha256"' in html
    assert any(e["action"] == "pii.confirm" and e["user"] == "olga" for e in audit.list_entries(ui.node))
    assert (await send(ui, record_id, html, chemnitz)).status == 303


async def test_with_four_eyes_the_alert_waits_for_release(fed: Federation, aiohttp_client: AiohttpClient) -> None:
    ui = await city(fed, aiohttp_client, {"release": {"four_eyes": True}})
    chemnitz = fed.nodes["Chemnitz"]
    record_id, html = await previewed(ui, chemnitz)
    assert "Zur Freigabe senden: Chemnitz (TLP:AMBER)" in html
    response = await send(ui, record_id, html, chemnitz)
    page = await (await ui.client.get(response.headers["Location"])).text()
    assert "Warnung zur Freigabe gesendet: an Chemnitz (TLP:AMBER)." in page
    assert get_record(ui.node, record_id)["pending"] == [chemnitz.node_id]
    share_id = list_shares(ui.node, record_id=record_id)[0]["id"]
    reject_share(ui.node, share_id, comment="Bitte das Gebiet genauer fassen.", by=Actor("anton", "approver"))
    page = await (await ui.client.get(f"/records/{record_id}")).text()
    assert "anton hat Version 1 für Chemnitz nicht freigegeben:" in page  # the author reads why
    assert "Bitte das Gebiet genauer fassen." in page
    assert "nicht freigegeben von anton" in page


@pytest.mark.parametrize("name", ["anton", "ada"])
async def test_approvers_and_administrators_may_send_alerts_too(ui: Ui, fed: Federation, name: str) -> None:
    await ui.login(name)
    record_id, _html = await previewed(ui, fed.nodes["Chemnitz"])
    assert get_record(ui.node, record_id)["author"] == name


async def test_the_preview_of_a_report_or_an_unknown_id_is_not_found(ui: Ui) -> None:
    report = add_record(ui.node, "experience", {"title": "T", "summary": "S"}, by=Actor("olga", "officer"))
    for record_id in (report, "0190f1a2b3c4d5e6f7a8b9c0d1e2f3a4"):
        response = await ui.client.get(f"/alerts/{record_id}/preview")
        assert response.status == 404


async def test_the_alert_form_without_the_csrf_token_is_refused(ui: Ui, fed: Federation) -> None:
    before = stored(ui.node)
    data = {**ALERT, "audience": "all"}
    response = await ui.post("/alerts/new", data, csrf=False)
    assert response.status == 403
    assert stored(ui.node) == before


async def test_a_retracted_alert_cannot_be_sent(ui: Ui, fed: Federation) -> None:
    record_id, html = await previewed(ui, fed.nodes["Chemnitz"])
    await ui.post(f"/records/{record_id}/retract", {"confirmed": "yes"})
    before = stored(ui.node)
    response = await send(ui, record_id, html, fed.nodes["Chemnitz"])
    assert response.status == 409
    again = await ui.client.get(f"/alerts/{record_id}/preview?audience=all")
    assert again.status == 409
    assert "Diese Warnung wurde zurückgezogen oder ist abgelaufen" in await again.text()
    assert stored(ui.node) == before


async def test_a_red_alert_offers_no_preview_for_all_partners(ui: Ui) -> None:
    alert = {"headline": "H", "area": {"name": "Bonn"}, "expires": "2026-12-31T17:00:00Z"}
    record_id = add_record(ui.node, "alert", alert, tlp="TLP:RED", by=Actor("olga", "officer"))
    before = stored(ui.node)
    response = await ui.client.get(f"/alerts/{record_id}/preview?audience=all")
    assert response.status == 400
    assert error_of(await response.text(), "audience") == (
        "TLP:RED geht nur an namentlich ausgewählte Partner, nie an alle oder an ein Netzwerk."
    )
    assert stored(ui.node) == before


async def test_the_send_form_without_the_csrf_token_is_refused(ui: Ui, fed: Federation) -> None:
    chemnitz = fed.nodes["Chemnitz"]
    record_id, html = await previewed(ui, chemnitz)
    before = stored(ui.node)
    data = {"audience": "peers", "to": chemnitz.node_id, **dict(HIDDEN.findall(html))}
    response = await ui.client.post(f"/alerts/{record_id}/send", data=data)
    assert response.status == 403
    assert stored(ui.node) == before
