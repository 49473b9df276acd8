"""Every message of the interface has German text, and the catalogs hold nothing the interface does not use."""

from __future__ import annotations

from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

import web
from web.i18n import catalog_files

WEB = Path(web.__file__).parent
METHODS = [("**.py", "python"), ("templates/**.html", "jinja2")]
OPTIONS = {"templates/**.html": {"extensions": "jinja2.ext.i18n"}}


def used_messages() -> set[str]:
    """The msgids the code and templates ask for (singular forms)."""
    found = set()
    for _file, _line, message, _comments, _context in extract_from_dir(WEB, METHODS, options_map=OPTIONS):
        found.add(message if isinstance(message, str) else message[0])
    return found


def german() -> dict[str, object]:
    """Every German msgid -> msgstr, over all catalogs."""
    text: dict[str, object] = {}
    for po in catalog_files("de"):
        with po.open("rb") as handle:
            for message in read_po(handle, locale="de"):
                if message.id:
                    key = message.id if isinstance(message.id, str) else message.id[0]
                    text[key] = message.string
    return text


def test_every_message_has_german_text() -> None:
    catalog = german()
    missing = sorted(m for m in used_messages() if not catalog.get(m) or catalog.get(m) in ("", ("", "")))
    assert not missing, f"messages without German text (add them to a catalog in web/locale/de): {missing}"


def test_the_catalogs_hold_no_unused_messages() -> None:
    unused = sorted(set(german()) - used_messages())
    assert not unused, f"German text for messages nothing uses any more: {unused}"


def test_catalogs_do_not_translate_a_message_twice() -> None:
    seen: dict[str, Path] = {}
    twice = []
    for po in catalog_files("de"):
        with po.open("rb") as handle:
            for message in read_po(handle, locale="de"):
                key = message.id if isinstance(message.id, str) else message.id[0]
                if key and key in seen:
                    twice.append(f"{key!r} in {seen[key].name} and {po.name}")
                seen[key] = po
    assert not twice, twice
