"""Translations: gettext catalogs (Babel .po files) for the pages, German by default, English selectable.

Messages are written in English in the code and templates; the .po files in `locale/de/LC_MESSAGES/`
(one per part of the interface, merged at load) hold their German text. The language of the current
request lives in a context variable that the app's middleware sets, so templates and Python code
translate with the same `gettext`.
"""

from __future__ import annotations

import gettext as gettext_module
import io
from contextvars import ContextVar
from functools import cache
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

LOCALE_DIR = Path(__file__).parent / "locale"
LANGUAGES = {"de": "Deutsch", "en": "English"}
DEFAULT_LANGUAGE = "de"

current_language: ContextVar[str] = ContextVar("current_language", default=DEFAULT_LANGUAGE)


def catalog_files(language: str) -> list[Path]:
    """The .po files that together hold `language`'s messages."""
    return sorted((LOCALE_DIR / language / "LC_MESSAGES").glob("*.po"))


@cache
def translations(language: str) -> gettext_module.NullTranslations:
    """The compiled catalogs for `language`, merged (English needs none: the messages are English)."""
    if language == "en":
        return gettext_module.NullTranslations()
    merged: gettext_module.NullTranslations = gettext_module.NullTranslations()
    for po in reversed(catalog_files(language)):
        with po.open("rb") as handle:
            catalog = read_po(handle, locale=language)
        buffer = io.BytesIO()
        write_mo(buffer, catalog)
        buffer.seek(0)
        compiled = gettext_module.GNUTranslations(buffer)
        compiled.add_fallback(merged)
        merged = compiled
    return merged


def N_(message: str) -> str:
    """Mark `message` for translation where it is defined; it is translated where it is shown."""
    return message


def gettext(message: str) -> str:
    """`message` in the current request's language."""
    return translations(current_language.get()).gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    """The singular or plural form for `n`, in the current request's language."""
    return translations(current_language.get()).ngettext(singular, plural, n)


def choose_language(stored: str | None, accept: str | None) -> str:
    """The user's stored choice if any, else the first supported language the browser asks for, else German."""
    if stored in LANGUAGES:
        return stored
    for part in (accept or "").split(","):
        tag = part.split(";")[0].strip().lower()[:2]
        if tag in LANGUAGES:
            return tag
    return DEFAULT_LANGUAGE
