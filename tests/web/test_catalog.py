"""Every screen in Vietnamese: each text the templates and page scripts show is translated."""

from __future__ import annotations

import re
from pathlib import Path

from smartcity.web import pages
from smartcity.web.i18n import catalog

TEMPLATES = Path(pages.__file__).parent / "templates"
#: _("…") and _('…') in the Jinja templates.
TEMPLATE_TEXT = re.compile(r"""_\(\s*(?:"([^"]+)"|'([^']+)')\s*\)""")


def template_texts() -> set[str]:
    """The msgids the templates ask for."""
    found: set[str] = set()
    for template in TEMPLATES.glob("*.html"):
        for double, single in TEMPLATE_TEXT.findall(template.read_text(encoding="utf-8")):
            found.add(double or single)
    return found


def test_every_template_text_has_a_vietnamese_translation() -> None:
    vietnamese = catalog("vi")
    texts = template_texts()
    assert len(texts) > 50  # the pattern finds the templates' texts
    missing = sorted(text for text in texts if not vietnamese.get(text))
    assert missing == []


def test_every_script_message_has_a_vietnamese_translation() -> None:
    vietnamese = catalog("vi")
    missing = sorted(text for text in pages.SCRIPT_MESSAGES if not vietnamese.get(text))
    assert missing == []


def test_every_text_a_script_translates_is_sent_to_the_page() -> None:
    # t("…") in a page script finds its translation only in the page's SCRIPT_MESSAGES block.
    scripts = (TEMPLATES.parent / "static").glob("*.js")
    asked = {
        text
        for script in scripts
        for text in re.findall(r'\bt\("([^"]+)"\)', script.read_text(encoding="utf-8"))
    }
    assert len(asked) > 20
    assert sorted(asked - set(pages.SCRIPT_MESSAGES)) == []
