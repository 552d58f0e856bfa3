"""Open pages of the built site in headless Chromium and check what a reader would see.

For each page: every math element was typeset by MathJax (no raw TeX left, no MathJax error),
every image loaded (``complete`` with a natural width), and nothing was fetched from the
network (the browser's resource timing lists only ``file:`` URLs). Optionally saves a
full-page screenshot of each.

Needs Debian's ``chromium`` and ``chromium-driver`` and the ``selenium`` package (the docs
extra). ``tests/docs/test_site.py`` runs it on the landing page, a tutorial and an API page;
by hand::

    python docs/browser_check.py docs/_build/html --screenshots /tmp/shots
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

#: Pages checked by default: the landing page, a tutorial, an API page, and the concepts page.
DEFAULT_PAGES = ("index.html", "tutorials/01_what_is_quantization.html", "api/quant.html", "concepts.html")

_WAIT_FOR_PAGE = """
const done = arguments[arguments.length - 1];
const images = Array.from(document.images);
images.forEach(img => { img.loading = "eager"; });
const loaded = Promise.all(images.map(img => img.complete ? null :
    new Promise(r => { img.addEventListener("load", r); img.addEventListener("error", r); })));
const typeset = (window.MathJax && MathJax.startup && MathJax.startup.promise) ? MathJax.startup.promise : Promise.resolve();
Promise.all([loaded, typeset]).then(() => done(true), () => done(false));
"""

_REPORT = """
const math = Array.from(document.querySelectorAll(".math"));
return {
  math: math.length,
  untypeset: math.filter(m => !m.querySelector("mjx-container")).map(m => m.textContent.slice(0, 60)),
  math_errors: document.querySelectorAll("mjx-merror").length,
  mathjax_loaded: !!(window.MathJax && MathJax.version),
  images: document.images.length,
  broken_images: Array.from(document.images).filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.src.slice(-80)),
  remote: performance.getEntriesByType("resource").map(e => e.name).filter(u => !u.startsWith("file:") && !u.startsWith("data:")),
  height: document.documentElement.scrollHeight,
  title: document.title,
};
"""


def find_browser() -> tuple[str, str] | None:
    """Paths of ``(chromium, chromedriver)``, or ``None`` if either is missing."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    return (browser, driver) if browser and driver else None


def check_pages(site: Path, pages=DEFAULT_PAGES, screenshots: Path | None = None) -> dict[str, dict]:
    """Open each page and return its report (see the module docstring); raises if Chromium is missing."""
    os.environ.setdefault("SE_OFFLINE", "true")     # Selenium must not look for drivers online
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    found = find_browser()
    if found is None:
        raise FileNotFoundError("chromium and chromedriver are needed (Debian: apt-get install chromium chromium-driver)")
    options = webdriver.ChromeOptions()
    options.binary_location = found[0]
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,900",
                "--allow-file-access-from-files"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(found[1]), options=options)
    driver.set_script_timeout(60)
    reports = {}
    try:
        for page in pages:
            path = (Path(site) / page).resolve()
            if not path.exists():
                raise FileNotFoundError(f"page {page} is not in the built site {site}")
            driver.get(path.as_uri())
            ready = driver.execute_async_script(_WAIT_FOR_PAGE)
            report = driver.execute_script(_REPORT)
            report["ready"] = bool(ready)
            if screenshots is not None:
                screenshots.mkdir(parents=True, exist_ok=True)
                driver.set_window_size(1280, min(int(report["height"]) + 40, 6000))
                shot = screenshots / (page.replace("/", "_").replace(".html", ".png"))
                driver.save_screenshot(str(shot))
                report["screenshot"] = str(shot)
                driver.set_window_size(1280, 900)
            reports[page] = report
    finally:
        driver.quit()
    return reports


def problems(report: dict) -> list[str]:
    """What is wrong with one page's report, in words (empty if nothing)."""
    found = []
    if not report["ready"]:
        found.append("the page did not finish loading images or typesetting")
    if report["math"] and not report["mathjax_loaded"]:
        found.append("MathJax did not load")
    if report["untypeset"]:
        found.append(f"{len(report['untypeset'])} math elements not typeset, e.g. {report['untypeset'][0]!r}")
    if report["math_errors"]:
        found.append(f"{report['math_errors']} MathJax errors")
    if report["broken_images"]:
        found.append(f"images that did not load: {report['broken_images']}")
    if report["remote"]:
        found.append(f"fetched from the network: {report['remote'][:3]}")
    return found


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("site", type=Path, help="the built HTML folder, e.g. docs/_build/html")
    parser.add_argument("--pages", nargs="*", default=list(DEFAULT_PAGES))
    parser.add_argument("--screenshots", type=Path, help="save a full-page PNG of each page here")
    args = parser.parse_args(argv)
    bad = 0
    for page, report in check_pages(args.site, args.pages, args.screenshots).items():
        issues = problems(report)
        bad += bool(issues)
        print(f"{page}: {report['math']} math elements, {report['images']} images"
              + (f" -> {report['screenshot']}" if "screenshot" in report else "")
              + "".join(f"\n  PROBLEM: {p}" for p in issues))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
