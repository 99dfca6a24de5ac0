"""The console's languages: English (the source strings) and Simplified Chinese (zh_CN).

Strings are marked with `_()` here and in the templates (`{{ _("...") }}`, newstyle gettext:
`_("Hello %(name)s", name=x)`, the values escaped); `make i18n-extract` collects them into
`locales/messages.pot`, and `locales/<locale>/LC_MESSAGES/messages.po` holds each translation.
The .po files are read and compiled in memory when the console starts (no build step).

The language of a request is chosen by `choose()` (`?lang=`, then the language the signed-in
user saved, then the language cookie, then Accept-Language) and made current for the
request's task by `activate()`; `_()` and the template filters read it from a context
variable, so each request has its own.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from functools import cached_property
from gettext import NullTranslations
from importlib import resources
from typing import Any

from babel.core import Locale
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import LazyProxy, Translations

LOCALES: tuple[str, ...] = ("en", "zh_CN")  # the first is the source language and the default
DEFAULT = LOCALES[0]
LANG_COOKIE = "hubgate_lang"
# `?lang=xx` shows a page in xx and keeps it in the cookie; with `&keep=1` (the switcher's links)
# it is also saved as the signed-in user's language. A plain `?lang=` link (shared, bookmarked,
# a test's) changes nobody's saved language.
SAVE_PARAM = "keep"
LANG_COOKIE_MAX_AGE = 365 * 24 * 3600
NAMES = {"en": "English", "zh_CN": "中文"}  # the switcher's labels, each in its own language
TAGS = {"en": "en", "zh_CN": "zh-CN"}  # BCP 47, for <html lang> and links


@dataclass(frozen=True)
class Language:
    """One locale, ready: its gettext catalogue and Babel's facts (number and date formats)."""

    code: str
    translations: NullTranslations

    @cached_property
    def locale(self) -> Locale:
        """Babel's facts, read at the first page that formats a number or date: parsing zh_CN
        alone loads ~2 MB of CLDR data, which a worker serving only the API never needs."""
        return Locale.parse(self.code)

    @property
    def tag(self) -> str:
        return TAGS[self.code]


def _compile(code: str) -> NullTranslations:
    """The locale's .po read and compiled to a catalogue in memory (English: the source strings)."""
    if code == DEFAULT:
        return NullTranslations()
    po = resources.files("hubgate.console").joinpath("locales", code, "LC_MESSAGES", "messages.po")
    with po.open("rb") as fp:
        # No `locale=`: the .po's own header carries its plural rule, so the catalogue comes out
        # the same, and Babel's CLDR data (~2 MB a worker) is not read at start-up for it.
        catalog = read_po(fp)
    mo = io.BytesIO()
    write_mo(mo, catalog, use_fuzzy=False)
    mo.seek(0)
    return Translations(mo, domain="messages")


def load_languages() -> dict[str, Language]:
    """Every locale's catalogue, read once at start (kept on the console object)."""
    return {code: Language(code, _compile(code)) for code in LOCALES}


_ENGLISH = Language(DEFAULT, NullTranslations())
_current: ContextVar[Language] = ContextVar("hubgate_console_language", default=_ENGLISH)


def activate(language: Language) -> None:
    """Make `language` the current one for the rest of this request (its task's context)."""
    _current.set(language)


def current() -> Language:
    return _current.get()


def gettext(message: str) -> str:
    """`message` in the current language (as is when the catalogue lacks it, or it is empty)."""
    return _current.get().translations.gettext(message) if message else message


def ngettext(singular: str, plural: str, n: int) -> str:
    return _current.get().translations.ngettext(singular, plural, n)


def pgettext(context: str, message: str) -> str:
    """`message` as meant in `context` (the navigation's "Models" is the model square)."""
    return _current.get().translations.pgettext(context, message)


def npgettext(context: str, singular: str, plural: str, n: int) -> str:
    return _current.get().translations.npgettext(context, singular, plural, n)


_ = gettext


def N_(message: str) -> str:
    """Marks `message` for the catalogue without translating it (translated where it is shown)."""
    return message


def lazy_gettext(message: str) -> Any:
    """For strings defined at import time: translated each time it is turned into text."""
    return LazyProxy(gettext, message, enable_cache=False)


# The sentences console.js shows (copy buttons, form advice, results), translated per page into a
# JSON block it reads; keep in step with console.js's t("...") calls.
JS_STRINGS: tuple[str, ...] = (
    N_("Copied"),
    N_("Selected: press Ctrl+C"),
    N_("Swipe the table sideways for more columns and the actions →"),
    N_("Table, scrolls sideways"),
    N_("Enter an amount in dollars, e.g. 5 or 2.50."),
    N_("Enter a number, e.g. 5 or 2.50."),
    N_("Enter a whole number, e.g. 10."),
    N_("Enter %(num)s or more."),
    N_("Enter a number above %(num)s."),
    N_("Enter %(num)s or less."),
    N_("Enter a number below %(num)s."),
    N_("Use at most %(num)s characters."),
    N_("Use at least %(num)s characters."),
    N_("Fill this in."),
    N_("Enter names separated by spaces or commas."),
    N_('Enter a JSON object, e.g. {"name": "value"}.'),
    N_("Choose yes or no."),
    N_("Mailed to %(email)s"),
    N_("Not mailed (%(reason)s): pass the link on yourself"),
    N_("OK in %(ms)s ms"),
    N_("Failed in %(ms)s ms"),
    N_("Error: %(message)s"),
)


def js_catalogue() -> dict[str, str]:
    """console.js's sentences in the current language (empty in English: it has them)."""
    language = _current.get()
    if language.code == DEFAULT:
        return {}
    return {m: language.translations.gettext(m) for m in JS_STRINGS}


def normalize(value: str | None) -> str | None:
    """A language tag as the console knows it ("zh-CN", "zh_cn", "zh-Hans" -> "zh_CN"), or None."""
    if not value:
        return None
    tag = value.strip().replace("_", "-").lower()
    if tag.startswith("zh"):
        return "zh_CN"  # the one Chinese catalogue (simplified) serves every Chinese reader
    if tag == "en" or tag.startswith("en-"):
        return "en"
    return None


def from_accept_language(header: str | None) -> str | None:
    """The best locale for an Accept-Language header (RFC 9110 weights), or None."""
    if not header:
        return None
    ranked: list[tuple[float, int, str]] = []
    for index, part in enumerate(header.split(",")):
        tag, _sep, params = part.strip().partition(";")
        weight = 1.0
        for param in params.split(";"):
            name, _eq, value = param.strip().partition("=")
            if name.strip().lower() == "q":
                try:
                    weight = float(value)
                except ValueError:
                    weight = 0.0
        if weight > 0:
            ranked.append((-weight, index, tag.strip()))
    for _w, _i, tag in sorted(ranked):
        found = normalize(tag)
        if found is not None:
            return found
    return None


def choose(
    query: Mapping[str, str],
    cookies: Mapping[str, str],
    accept_language: str | None,
    saved: str | None = None,
) -> str:
    """`?lang=` first, then the viewer's saved language, then the language cookie, then the
    browser's Accept-Language, else English."""
    return (
        normalize(query.get("lang"))
        or normalize(saved)
        or normalize(cookies.get(LANG_COOKIE))
        or from_accept_language(accept_language)
        or DEFAULT
    )


def translator_for(languages: Mapping[str, Language], code: str | None) -> Callable[[str], str]:
    """The gettext of a reader's saved language (`code`; English when unknown or unset)."""
    found = languages.get(normalize(code) or DEFAULT)
    return found.translations.gettext if found is not None else _ENGLISH.translations.gettext


def translator() -> Callable[[str], str]:
    """The current language's gettext, for code below the console (mail) that takes one."""
    return _current.get().translations.gettext
