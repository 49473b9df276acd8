"""Erfahrungsberichte: writing a report in the form (every field, local marks, label), editing it into new
versions, every validation error in German next to its field with nothing stored, and retracting after a
confirmation."""

from __future__ import annotations

import io
from typing import Any
from urllib.parse import urlencode

import pytest

from node import audit
from node.sharing import policy
from node.sharing.records import get_record
from node.sharing.shares import outgoing, record_row, version_row
from node.store import write
from protocol.records import EXPERIENCE_SCHEMA
from protocol.tlp import LABELS
from tests.web.conftest import Ui, error_of

REPORT: dict[str, str] = {
    "title": "Sicherheitsaudit Innenstadt",
    "summary": "Begehungen mit Anwohnern, Polizei und Jugendhilfe.",
    "implementation.duration": "1 Jahr",
    "implementation.costs": "LOCAL-COSTS-6b1c",
    "topics": "Wohnungseinbruch\n\nöffentlicher Raum\n",
    "evidence_level": "probable",
    "contact.mailbox": "praevention@bonn.de",
    "internal_notes": "LOCAL-NOTE-3f9a",
    "tlp": "TLP:GREEN",
}
LABELS_DE = (
    "Projektbezeichnung",
    "Kurzbeschreibung",
    "Problembeschreibung / Ausgangslage",
    "Ursachen, Risiko- und Schutzfaktoren",
    "Präventions- und Projektziele",
    "Zielgruppen",
    "Maßnahmen und Wirkannahme",
    "Laufzeit",
    "Kosten",
    "Personal",
    "Kooperationspartner",
    "Evaluation: Art",
    "Evaluation: Design",
    "Evaluation: Ergebnis",
    "Evaluation: Bericht-URL",
    "Evidenzstufe",
    "Gelingensbedingungen",
    "Stolpersteine",
    "Übertragbarkeit",
    "Themen / Phänomene",
    "Kontakt (Funktionspostfach)",
    "Interne Notizen",
)


def leaf_fields(schema: dict[str, Any]) -> list[str]:
    """Every field of the schema a form must offer: top-level fields and members of objects."""
    names: list[str] = []
    for name, sub in schema["properties"].items():
        if sub.get("type") == "object":
            names.extend(f"{name}.{inner}" for inner in sub["properties"])
        else:
            names.append(name)
    return names


def stored(ui: Ui) -> dict[str, int]:
    """What a refused form must leave as it was."""
    counts = {t: ui.node.db.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in ("records", "versions")}
    return {**counts, "audit": len(audit.list_entries(ui.node))}


async def create(ui: Ui, **changes: str) -> Any:
    return await ui.post("/records/new", {**REPORT, **changes}, allow_redirects=False)


async def created_id(ui: Ui, **changes: str) -> str:
    response = await create(ui, **changes)
    assert response.status == 303, await response.text()
    return str(response.headers["Location"]).rsplit("/", 1)[1]


@pytest.fixture
async def olga(ui: Ui) -> Ui:
    await ui.login("olga")
    return ui


async def test_the_form_offers_every_field_of_the_schema_with_its_german_label(olga: Ui) -> None:
    html = await (await olga.client.get("/records/new")).text()
    for name in leaf_fields(EXPERIENCE_SCHEMA):
        assert f'name="{name}"' in html, name
    for label in LABELS_DE:
        assert label in html, label
    assert "Als Entwurf speichern" in html


async def test_every_optional_field_the_node_lets_stay_local_has_its_control(olga: Ui) -> None:
    html = await (await olga.client.get("/records/new")).text()
    markable = set(policy.markable_fields("experience"))
    for name in leaf_fields(EXPERIENCE_SCHEMA):
        assert (f'name="local.{name}"' in html) == (name in markable), name
    assert 'name="local.title"' not in html
    assert 'name="local.internal_notes"' not in html
    notes = html[html.index('id="internal_notes"') :]
    assert "Bleibt immer lokal" in notes[:1500]


async def test_the_label_picker_names_every_label_with_its_meaning(olga: Ui) -> None:
    html = await (await olga.client.get("/records/new")).text()
    assert 'data-pv-describe="tlp-meaning"' in html
    for label in LABELS:
        assert f'<option value="{label}"' in html
    assert "Nur die ausdrücklich genannten Empfänger; keine Weitergabe." in html
    noscript = html[html.index("<noscript>") : html.index("</noscript>")]
    assert "TLP:GREEN</strong>: Innerhalb des Netzwerks, in dem geteilt wurde; nicht öffentlich." in noscript
    assert all(label in noscript for label in LABELS)


async def test_a_report_is_saved_as_a_draft_with_a_field_kept_local(olga: Ui) -> None:
    record_id = await created_id(olga, **{"local.implementation.costs": "1"})
    record = get_record(olga.node, record_id)
    assert record["local_fields"] == ["implementation.costs"]
    assert record["tlp"] == "TLP:GREEN"
    assert record["version"] == 1
    assert record["content"]["topics"] == ["Wohnungseinbruch", "öffentlicher Raum"]
    assert record["content"]["implementation"] == {"duration": "1 Jahr", "costs": "LOCAL-COSTS-6b1c"}
    assert not record["shared_with"]
    with write(olga.node.db) as conn:  # what a share would sign, as node.sharing.shares.seal takes it
        sent = outgoing(olga.node, record_row(conn, record_id), version_row(conn, record_id, 1))
    assert sent["implementation"] == {"duration": "1 Jahr"}
    assert "internal_notes" not in sent
    page = await olga.client.get(f"/records/{record_id}")
    html = await page.text()
    assert "Als Entwurf gespeichert: Sicherheitsaudit Innenstadt" in html
    costs = html[html.index(">Kosten") :]
    assert "bleibt lokal" in costs[: costs.index("</dt>")]
    notes = html[html.index(">Interne Notizen") :]
    assert "bleibt lokal" in notes[: notes.index("</dt>")]
    duration = html[html.index(">Laufzeit") :]
    assert "bleibt lokal" not in duration[: duration.index("</dt>")]


async def test_the_list_shows_the_own_reports_with_kind_label_version_and_state(olga: Ui) -> None:
    await created_id(olga)
    html = await (await olga.client.get("/records")).text()
    assert "Sicherheitsaudit Innenstadt" in html
    assert "Erfahrungsbericht" in html
    assert "TLP:GREEN" in html
    assert 'data-pv-state="draft">Entwurf' in html


async def test_editing_makes_the_next_version_and_keeps_the_local_marks(olga: Ui) -> None:
    record_id = await created_id(olga, **{"local.implementation.costs": "1"})
    form = await (await olga.client.get(f"/records/{record_id}/edit")).text()
    assert 'value="Sicherheitsaudit Innenstadt"' in form
    assert "Wohnungseinbruch\nöffentlicher Raum</textarea>" in form
    assert 'name="local.implementation.costs"' not in form  # a mark cannot be taken back
    assert "Bleibt in jeder Version lokal" in form
    response = await olga.post(
        f"/records/{record_id}/edit", {**REPORT, "summary": "Neu gefasst.", "local.problem": "1"}, allow_redirects=False
    )
    assert response.status == 303
    record = get_record(olga.node, record_id)
    assert record["version"] == 2
    assert record["content"]["summary"] == "Neu gefasst."
    assert record["local_fields"] == ["implementation.costs", "problem"]
    assert [v["author"] for v in record["versions"]] == ["olga", "olga"]
    page = await olga.client.get(response.headers["Location"])
    assert "Als Version 2 gespeichert." in await page.text()


async def test_saving_an_unchanged_form_makes_no_version(olga: Ui) -> None:
    record_id = await created_id(olga)
    before = stored(olga)
    response = await olga.post(f"/records/{record_id}/edit", REPORT)
    assert "Es wurde nichts geändert." in await response.text()
    assert stored(olga) == before


BAD_FORMS = [
    ({"title": "  "}, "title", "Bitte eine Projektbezeichnung angeben."),
    ({"summary": ""}, "summary", "Bitte eine Kurzbeschreibung angeben."),
    ({"title": "T" * 301}, "title", "Höchstens 300 Zeichen."),
    ({"implementation.duration": "d" * 301}, "implementation.duration", "Höchstens 300 Zeichen."),
    (
        {"contact.mailbox": "frau.mueller at bonn"},
        "contact.mailbox",
        "Bitte eine gültige E-Mail-Adresse eines Funktionspostfachs angeben, z. B. praevention@stadt.de",
    ),
    (
        {"evaluation.report_url": "ftp://bonn.de/bericht.pdf"},
        "evaluation.report_url",
        "Bitte eine Webadresse angeben, die mit https:// oder http:// beginnt.",
    ),
    ({"topics": "Wohnungseinbruch\n" + "x" * 101}, "topics", "Jede Zeile höchstens 100 Zeichen."),
    (
        {"implementation.partners": "\n".join(f"Partner {n}" for n in range(51))},
        "implementation.partners",
        "Höchstens 50 Zeilen.",
    ),
    ({"evidence_level": "sehr gut"}, "evidence_level", "Bitte einen Wert aus der Liste wählen."),
    ({"evaluation.kind": "survey"}, "evaluation.kind", "Bitte einen Wert aus der Liste wählen."),
    ({"tlp": "TLP:PURPLE"}, "tlp", "Bitte eine Weitergabestufe (TLP) aus der Liste wählen."),
]


@pytest.mark.parametrize(("changes", "field", "message"), BAD_FORMS)
async def test_a_bad_entry_is_named_next_to_its_field_and_nothing_is_stored(
    olga: Ui, changes: dict[str, str], field: str, message: str
) -> None:
    before = stored(olga)
    response = await create(olga, **changes)
    assert response.status == 400
    html = await response.text()
    assert error_of(html, field) == message
    assert f'href="#{field}">{message}</a>' in html  # and in the summary above the form
    assert stored(olga) == before


async def test_every_problem_is_shown_at_once(olga: Ui) -> None:
    before = stored(olga)
    response = await create(olga, title="", **{"contact.mailbox": "kein-postfach", "topics": "y" * 101})
    html = await response.text()
    assert error_of(html, "title") == "Bitte eine Projektbezeichnung angeben."
    assert error_of(html, "contact.mailbox").startswith("Bitte eine gültige E-Mail-Adresse")
    assert error_of(html, "topics") == "Jede Zeile höchstens 100 Zeichen."
    assert 'value="kein-postfach"' in html  # what was typed is shown again
    assert stored(olga) == before


async def test_an_edit_with_a_bad_entry_changes_nothing(olga: Ui) -> None:
    record_id = await created_id(olga)
    before = stored(olga)
    response = await olga.post(f"/records/{record_id}/edit", {**REPORT, "title": ""})
    assert response.status == 400
    assert error_of(await response.text(), "title") == "Bitte eine Projektbezeichnung angeben."
    assert stored(olga) == before
    assert get_record(olga.node, record_id)["version"] == 1


async def test_a_required_field_cannot_be_marked_local_and_nothing_is_stored(olga: Ui) -> None:
    before = stored(olga)
    response = await create(olga, **{"local.title": "1"})
    assert response.status == 400
    assert "Der Knoten hat das abgelehnt" in error_of(await response.text(), "form")
    assert stored(olga) == before


async def test_a_form_without_the_csrf_token_is_refused(olga: Ui) -> None:
    before = stored(olga)
    response = await olga.post("/records/new", REPORT, csrf=False)
    assert response.status == 403
    assert stored(olga) == before


async def test_an_oversized_form_is_refused(olga: Ui) -> None:
    before = stored(olga)
    body = urlencode({**REPORT, "csrf_token": await olga.token(), "summary": "x" * (3 * 1024 * 1024)})
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    response = await olga.client.post("/records/new", data=io.BytesIO(body.encode()), headers=headers)
    assert response.status == 413
    assert stored(olga) == before


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/records/0190f1a2b3c4d5e6f7a8b9c0d1e2f3a4"),
        ("GET", "/records/nope/edit"),
        ("POST", "/records/nope/edit"),
        ("POST", "/records/nope/retract"),
    ],
)
async def test_an_unknown_record_is_a_not_found_page(olga: Ui, method: str, path: str) -> None:
    data = {"csrf_token": await olga.token()} if method == "POST" else None
    response = await olga.client.request(method, path, data=data)
    assert response.status == 404
    assert "Auf diesem Knoten gibt es keinen Bericht und keine Warnung mit dieser Kennung." in await response.text()


async def test_a_wrong_method_is_refused(olga: Ui) -> None:
    response = await olga.client.put("/records/new", data={"csrf_token": await olga.token()})
    assert response.status == 405


@pytest.mark.parametrize("name", ["anton", "ada"])
async def test_approvers_and_administrators_may_write_reports_too(ui: Ui, name: str) -> None:
    await ui.login(name)
    record_id = await created_id(ui)
    assert get_record(ui.node, record_id)["versions"][0]["author"] == name


async def test_retracting_asks_first_then_retracts(olga: Ui) -> None:
    record_id = await created_id(olga)
    asked = await olga.post(f"/records/{record_id}/retract", {})
    assert asked.status == 200
    html = await asked.text()
    assert "Ja, überall zurückziehen" in html
    assert not get_record(olga.node, record_id)["retracted"]
    done = await olga.post(f"/records/{record_id}/retract", {"confirmed": "yes"}, allow_redirects=False)
    assert done.status == 303
    assert get_record(olga.node, record_id)["retracted"]
    page = await (await olga.client.get(done.headers["Location"])).text()
    assert 'data-pv-state="retracted"' in page
    assert "zurückgezogen" in page
    assert "Zurückgezogen am" in page
    listing = await (await olga.client.get("/records")).text()
    assert 'data-pv-state="retracted">zurückgezogen' in listing
    assert (await olga.client.get(f"/records/{record_id}/edit")).status == 409
    again = await olga.post(f"/records/{record_id}/retract", {"confirmed": "yes"})
    assert again.status == 409
