"""The staff consoles' one language and navigation module (finance, supervision, operations).

Language: ``?lang=`` wins (and is remembered in the session), then the language chosen earlier,
then ``Accept-Language``; Simplified Chinese by default, English available. Texts live in one
catalogue per language (``routes/translations/<lang>.yaml``), in a section per console plus
``common``; a template asks ``t("key")`` and gets its console's text, else the common one, else
the Chinese one, else the key (a unit test keeps the two catalogues' keys equal).

Each console blueprint calls :func:`install` once; the shared layout
(``templates/console/base.html``) shows the consoles the signed-in person's roles open, so a
person with several roles moves between them on one sign-in.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import yaml
from flask import current_app, g, request, session, url_for

LANGUAGES = ("zh", "en")  # the first is the default
CATALOGUES = Path(__file__).resolve().parent / "translations"

# (console, the endpoint of its first page, the realm roles that open it), in navigation order.
CONSOLES = (
    ("finance", "finance_console.runs_page", ("finance",)),
    ("supervision", "supervision_console.dashboard", ("supervisor",)),
    ("operations", "operations_console.index", ("operator",)),
)


@lru_cache(maxsize=None)
def catalogue(lang: str) -> dict[str, dict[str, str]]:
    with open(CATALOGUES / f"{lang}.yaml", encoding="utf-8") as f:
        return yaml.safe_load(f) or {}


def translator(lang: str, console: str):
    """`t(key)` for one console in one language, falling back to common, then Chinese, then the key."""
    chain = [catalogue(lang).get(console, {}), catalogue(lang).get("common", {})]
    if lang != LANGUAGES[0]:
        chain += [catalogue(LANGUAGES[0]).get(console, {}), catalogue(LANGUAGES[0]).get("common", {})]

    def t(key: str) -> str:
        for table in chain:
            if key in table:
                return table[key]
        return key

    return t


def coded_text(t, code: str | None, params: dict | None, fallback: str) -> str:
    """(pure) The catalogue's `alert_msg_<code>` filled in with `params`; `fallback` (the English text)
    when the code has no text or the text names a value the params lack."""
    key = f"alert_msg_{code}"
    template = t(key) if code else key
    if template == key:
        return fallback
    try:
        return template.format(**(params or {}))
    except (KeyError, IndexError, ValueError):
        return fallback


def pick_language(explicit: str | None, remembered: str | None, accept_languages) -> str:
    """?lang= wins, then the language chosen earlier, then Accept-Language; Chinese by default."""
    for choice in (explicit, remembered):
        if choice in LANGUAGES:
            return choice
    for tag, _quality in accept_languages or ():  # highest quality first
        primary = tag.split("-", 1)[0].lower()
        if primary in LANGUAGES:
            return primary
    return LANGUAGES[0]


def current_language() -> str:
    return g.get("lang") or pick_language(request.args.get("lang"), session.get("lang"), request.accept_languages)


def consoles_for(roles) -> list[dict]:
    """The consoles these realm roles open (only those registered on this app), for the navigation."""
    views = current_app.view_functions
    return [{"name": name, "url": url_for(endpoint)} for name, endpoint, needed in CONSOLES
            if endpoint in views and set(needed) & set(roles or ())]


def install(blueprint, console: str) -> None:
    """Give one console blueprint the shared language choice and template helpers."""

    @blueprint.before_request
    def _language():
        wanted = request.args.get("lang")
        g.lang = pick_language(wanted, session.get("lang"), request.accept_languages)
        if wanted in LANGUAGES:
            session["lang"] = wanted
        g.console = console

    @blueprint.context_processor
    def _helpers():
        from routes.console_auth import signed_in_principal

        lang = g.get("lang", LANGUAGES[0])
        principal = signed_in_principal()
        return {"t": translator(lang, console), "lang": lang, "html_lang": "zh-CN" if lang == "zh" else "en",
                "console": console, "consoles": consoles_for(principal.roles if principal else ())}
