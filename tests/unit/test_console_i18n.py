"""The consoles' one translation module: both languages say the same things, and the language is
chosen by ?lang=, then the remembered choice, then Accept-Language, Chinese by default."""
from werkzeug.datastructures import LanguageAccept

from routes.console_i18n import LANGUAGES, catalogue, pick_language, translator


def _keys(lang):
    return {(section, key) for section, table in catalogue(lang).items() for key in (table or {})}


def test_every_text_exists_in_every_language():
    reference = _keys(LANGUAGES[0])
    for lang in LANGUAGES[1:]:
        assert _keys(lang) == reference, f"{lang}.yaml and {LANGUAGES[0]}.yaml differ in keys"


def test_a_console_text_falls_back_to_common_then_the_key():
    t = translator("en", "finance")
    assert t("sign_out") == "Sign out" and translator("zh", "finance")("sign_out") == "退出"
    assert t("no-such-key") == "no-such-key"


def test_the_language_is_picked_in_order():
    accept = LanguageAccept([("en-US", 1), ("zh-CN", 0.8)])
    assert pick_language(None, None, accept) == "en"
    assert pick_language(None, "zh", accept) == "zh"
    assert pick_language("en", "zh", accept) == "en"
    assert pick_language("fr", None, LanguageAccept([("fr", 1)])) == "zh"


def test_finance_and_supervision_speak_from_the_catalogues():
    import supervision.console
    import routes.finance_console

    assert not hasattr(supervision.console, "MESSAGES") and not hasattr(supervision.console, "pick_language")
    assert not hasattr(routes.finance_console, "TEXT")
    for console, key, zh, en in (("finance", "runs", "对账批次", "Runs"),
                                 ("supervision", "open_warnings", "未处理的预警", "Open warnings")):
        assert (translator("zh", console)(key), translator("en", console)(key)) == (zh, en)
