"""The finance console's pages link to the next page (keyset cursor) with the same filters."""
from flask import render_template_string

from config.settings import Settings
from routes import finance_console
from bootstrap.gateway import create_app


def _app():
    return create_app(Settings.from_env({}, log_json=True))


def test_next_and_first_page_links_keep_the_filters():
    app = _app()
    with app.test_request_context("/console/finance/discrepancies?status=open&from=2032-02-01&after=2032-02-04.9.500"):
        links = finance_console._page_links("2032-02-03.7.12")
    assert links["next_url"].startswith("/console/finance/discrepancies?")
    assert "status=open" in links["next_url"] and "from=2032-02-01" in links["next_url"]
    assert links["next_url"].endswith("after=2032-02-03.7.12") and links["next_url"].count("after=") == 1
    assert links["first_url"] == "/console/finance/discrepancies?status=open&from=2032-02-01"
    with app.test_request_context("/console/finance/runs/7?category=LONG"):
        links = finance_console._page_links(None)
    assert links == {"next_url": None, "first_url": None}
    with app.test_request_context("/console/finance/runs/7?category=LONG"):
        assert finance_console._page_links("2032-02-03.7.12")["next_url"] == \
            "/console/finance/runs/7?category=LONG&after=2032-02-03.7.12"


def test_the_pager_renders_a_next_page_link():
    app = _app()
    with app.test_request_context("/console/finance/"):
        html = render_template_string('{% from "finance/_pager.html" import pager with context %}{{ pager(n, f) }}',
                                      t={"next_page": "Next page", "first_page": "First page"}.get,
                                      n="/console/finance/?after=2032-02-03.payments.2", f=None)
    assert 'id="next-page"' in html and 'href="/console/finance/?after=2032-02-03.payments.2"' in html
    assert "first-page" not in html
