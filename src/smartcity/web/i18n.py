"""Vietnamese first, English second: message catalogs, the visitor's language, local formats.

Messages are written in English in the code and templates (msgids) and translated in
`locale/vi/LC_MESSAGES/messages.po` (GNU gettext, read with Babel); Vietnamese is the default.
The language comes from `?lang=`, then the `lang` cookie the switch sets, else Vietnamese.
Numbers, dates and times use Babel's CLDR data for the locale, in Vietnam time.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo

from babel.dates import format_datetime
from babel.messages.pofile import read_po
from babel.numbers import format_decimal
from starlette.requests import Request

LANGUAGES = ("vi", "en")
DEFAULT_LANGUAGE = "vi"
LOCALES = {"vi": "vi_VN", "en": "en_GB"}
VIETNAM = ZoneInfo("Asia/Ho_Chi_Minh")
LOCALE_DIR = Path(__file__).resolve().parent / "locale"


@cache
def catalog(language: str) -> dict[str, str]:
    """msgid → translation for a language (English needs none)."""
    path = LOCALE_DIR / language / "LC_MESSAGES" / "messages.po"
    if not path.exists():
        return {}
    with path.open("rb") as handle:
        messages = read_po(handle, locale=LOCALES.get(language, language))
    return {
        str(m.id): str(m.string)
        for m in messages
        if m.id and isinstance(m.id, str) and m.string and not m.fuzzy
    }


def gettext_for(language: str) -> Callable[[str], str]:
    """A gettext function for a language: untranslated messages fall back to English."""
    table = catalog(language)
    return lambda message: table.get(message, message)


def language_of(request: Request) -> str:
    """The visitor's language: ?lang=, then the lang cookie, else Vietnamese."""
    for candidate in (request.query_params.get("lang"), request.cookies.get("lang")):
        if candidate in LANGUAGES:
            return candidate
    return DEFAULT_LANGUAGE


def format_number(value: float, language: str, digits: int = 1) -> str:
    """1234.5 → '1.234,5' in Vietnamese, '1,234.5' in English."""
    pattern = "#,##0" + ("." + "#" * digits if digits > 0 else "")
    return format_decimal(value, format=pattern, locale=LOCALES[language])


def format_time(moment: datetime, language: str) -> str:
    """A date and time in Vietnam time, the local way (04/12/2026 17:05)."""
    local = moment.astimezone(VIETNAM)
    return format_datetime(local, "dd/MM/yyyy HH:mm", locale=LOCALES[language])


def js_messages(language: str, msgids: list[str]) -> dict[str, str]:
    """The translations the page's scripts need, for a JSON data block."""
    translate = gettext_for(language)
    return {m: translate(m) for m in msgids}
