"""The storefront in a real browser (Selenium 4, headless Chromium) against deployed staging.

``check URL``: the page lists the seeded products the API serves, and "Add to cart" twice makes
the page and the server count 2. On failure a screenshot and the page source go to EVIDENCE, for
``evidence`` (the next stage) to keep as artifacts. Debian's ``chromium`` and ``chromedriver``
are used by path, Selenium Manager never downloads (SE_OFFLINE=true). Without a browser the
check exits 77, which cdtui shows as SKIPPED with the last line as the reason; under CI=true a
missing browser is a failure instead.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import urllib.request
from pathlib import Path

SKIP = 77  # cdtui: the stage is SKIPPED, its reason the last line printed
EVIDENCE = Path(".cdtui-demo/browser")
CHROMIUM = os.environ.get("SHOP_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("SHOP_CHROMEDRIVER", "/usr/bin/chromedriver")
WAIT = 10.0
FLAGS = (
    "--headless=new",
    "--no-sandbox",  # as root (containers, CI) Chromium refuses to start sandboxed
    "--disable-dev-shm-usage",
    "--disable-gpu",
    "--disable-background-networking",  # no update, sync or metrics calls from a test browser
    "--disable-component-update",
    "--disable-default-apps",
    "--disable-sync",
    "--no-first-run",
    "--window-size=1024,768",
)


def missing_browser() -> str:
    """What is missing to run the check ('' when nothing is)."""
    missing = [path for path in (CHROMIUM, CHROMEDRIVER) if not os.access(path, os.X_OK)]
    if missing:
        return f"{' and '.join(missing)} not found (apt-get install chromium chromium-driver)"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "the selenium package is not installed (pip install -e '.[sample]')"
    return ""


def api(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=WAIT) as reply:
        return json.load(reply)


def open_browser(profile: str):
    os.environ["SE_OFFLINE"] = "true"  # Selenium Manager must not reach the network
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (*FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)


def check_storefront(driver, base: str) -> list[str]:
    """The checks, in the order a shopper meets them; returns what was seen, for the log."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as shows
    from selenium.webdriver.support.ui import WebDriverWait

    wait = WebDriverWait(driver, WAIT)
    driver.get(base + "/")
    wait.until(shows.presence_of_element_located((By.CSS_SELECTOR, "body[data-ready=true]")))
    seen = [f"page {driver.title!r} from colour {driver.find_element(By.ID, 'colour').text}"]
    expected = [p["name"] for p in api(base + "/api/products")["products"]]
    shown = [e.text for e in driver.find_elements(By.CSS_SELECTOR, "#products li.product .name")]
    assert shown == expected, f"the page lists {shown}, the API {expected}"
    seen.append(f"{len(shown)} products listed: {', '.join(shown)}")
    buttons = driver.find_elements(By.CSS_SELECTOR, "#products li.product button.add:enabled")
    assert buttons, "no product can be added to the cart"
    count = driver.find_element(By.ID, "cart-count")
    assert count.text == "0", f"a fresh cart shows {count.text} items"
    for clicks, button in enumerate(buttons[:2], 1):
        button.click()
        wait.until(shows.text_to_be_present_in_element((By.ID, "cart-count"), str(clicks)))
    cart = driver.execute_script("return sessionStorage.getItem('cart')")
    held = api(f"{base}/api/carts/{cart}")["count"]
    assert held == 2, f"the page counts 2 items, the server {held}"
    seen.append(f"added 2 products: the page and the server count {held}")
    return seen


def keep_evidence(driver) -> None:
    EVIDENCE.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(EVIDENCE / "storefront.png"))
    (EVIDENCE / "storefront.html").write_text(driver.page_source, encoding="utf-8")
    print(f"browser: evidence in {EVIDENCE}/ (storefront.png, storefront.html)", flush=True)


def check(base: str) -> int:
    shutil.rmtree(EVIDENCE, ignore_errors=True)  # only this run's failure is evidence
    missing = missing_browser()
    if missing:
        if os.environ.get("CI", "").lower() == "true":
            print(f"browser: {missing}; CI=true, so a missing browser fails", flush=True)
            return 1
        print(f"skipped: no browser here: {missing}", flush=True)
        return SKIP
    with tempfile.TemporaryDirectory(prefix="shop-chromium-") as profile:
        driver = open_browser(profile)
        try:
            for line in check_storefront(driver, base.rstrip("/")):
                print(f"browser: {line}", flush=True)
        except Exception as error:  # a failed check, or the page broke under it
            print(f"browser: FAILED: {type(error).__name__}: {error}".rstrip(), flush=True)
            keep_evidence(driver)
            return 1
        finally:
            driver.quit()
    print("browser: storefront renders the catalogue and the cart works", flush=True)
    return 0


def evidence() -> int:
    """The next stage: keep what a failed check left (as artifacts), else skip."""
    files = sorted(p.name for p in EVIDENCE.glob("*")) if EVIDENCE.is_dir() else []
    if not files:
        print("skipped: the browser check left no failure evidence", flush=True)
        return SKIP
    print(f"keeping {', '.join(files)} from {EVIDENCE}/", flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("check").add_argument("url", help="the deployed shop, e.g. staging")
    commands.add_parser("evidence")
    args = parser.parse_args(argv)
    return check(args.url) if args.command == "check" else evidence()


if __name__ == "__main__":
    sys.exit(main())
