"""Take the README's screenshots of the three staff consoles from a running `make run`.

    .venv/bin/python scripts/screenshots.py [--base http://127.0.0.1:8000] [--lang zh-CN]

Signs each demo staff user in through Keycloak in Chromium (Playwright) and saves
docs/screenshots/{finance,supervision,operations}.png (`-en.png` for --lang en).
Chinese text needs a CJK font in the system (Debian: fonts-noto-cjk). Needs the demo day (`make run` seeds it).
"""
from __future__ import annotations

import argparse
from pathlib import Path

from playwright.sync_api import sync_playwright

PASSWORD = "Hefei-Demo-2026"
PAGES = (("finance", "finance01", "/console/finance/"),
         ("supervision", "supervisor01", "/console/supervision/"),
         ("operations", "operator01", "/console/operations/"))
OUT = Path(__file__).resolve().parent.parent / "docs" / "screenshots"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--base", default="http://127.0.0.1:8000")
    parser.add_argument("--lang", default="zh-CN")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])  # Debian's, as the browser tests
        for name, user, path in PAGES:
            context = browser.new_context(locale=args.lang, viewport={"width": 1280, "height": 860})
            page = context.new_page()
            page.goto(args.base + path)
            page.fill("#username", user)
            if page.locator("#password").count() == 0:
                page.click("#kc-login")
            page.fill("#password", PASSWORD)
            page.click("#kc-login")
            page.wait_for_url(f"{args.base}{path}*", timeout=30000)
            page.wait_for_load_state("networkidle")
            target = OUT / (f"{name}.png" if args.lang.startswith("zh") else f"{name}-{args.lang.split('-')[0]}.png")
            page.screenshot(path=str(target), full_page=False)
            print(f"saved {target}")
            context.close()
        browser.close()


if __name__ == "__main__":
    main()
