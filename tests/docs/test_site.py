"""The documentation site builds with warnings as errors, references nothing remote, and reads well in a browser.

The build executes every tutorial (MyST-NB), so it runs once per session (``site`` fixture).
Without the docs extra the tests are skipped outside CI and fail in CI, where the README's test
command installs it. The browser check needs Debian's ``chromium`` and ``chromium-driver``;
``.ci/run`` installs them when it can, and the check is skipped with a message otherwise.
"""
import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
sys.path.insert(0, str(DOCS))
import browser_check  # noqa: E402  (docs/browser_check.py)

#: Attributes through which a page loads something: a remote value here is a remote asset.
_ASSET = re.compile(r"""<(script|link|img|iframe|source|video|audio)\b[^>]*?\b(src|href)\s*=\s*["']([^"']+)["']""", re.I)
_CSS_URL = re.compile(r"""(?:url\(\s*["']?|@import\s+["'])([^"')\s]+)""", re.I)


def _remote(url: str) -> bool:
    return url.startswith(("http:", "https:", "//", "ftp:"))


@pytest.fixture(scope="session")
def site(tmp_path_factory):
    missing = [m for m in ("sphinx", "myst_nb", "numpydoc", "pydata_sphinx_theme", "sphinx-mathjax-offline")
               if importlib.util.find_spec(m) is None]
    if missing:
        message = f'the docs extra is not installed (missing {missing}): pip install -e ".[docs]"'
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    out = tmp_path_factory.mktemp("site") / "html"
    cmd = [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html", str(DOCS), str(out)]
    result = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=1200)
    assert result.returncode == 0, f"sphinx failed:\n{result.stdout[-5000:]}\n{result.stderr[-10000:]}"
    return out


def test_every_page_is_there(site):
    tutorials = sorted(p.stem for p in (ROOT / "tutorials").glob("[0-9][0-9]_*.ipynb"))
    for page in ["index", "getting-started", "concepts", "teaching", "model-card", "api/index", "api/quant",
                 "api/kernels", "api/nn", "api/methods", "api/formats", "api/eval", "api/testing", "tutorials/index"] + [f"tutorials/{t}" for t in tutorials]:
        assert (site / f"{page}.html").exists(), page
    api = (site / "api" / "storage.html").read_text()
    assert 'id="miniquant.tensor.quantize"' in api and 'id="miniquant.tensor.QTensor"' in api


def test_tutorials_are_rendered_executed_with_their_plots(site):
    pages = sorted((site / "tutorials").glob("[0-9][0-9]_*.html"))
    assert len(pages) == len(list((ROOT / "tutorials").glob("[0-9][0-9]_*.ipynb")))
    for page in pages:
        html = page.read_text()
        assert "cell_output" in html, f"{page.name}: no outputs (not executed?)"
        assert "Traceback" not in html, f"{page.name}: an error in the output"
    assert re.search(r'<img[^>]+src="[^"]*\.png"', (site / "tutorials" / "01_what_is_quantization.html").read_text())


def test_no_remote_asset_is_referenced(site):
    remote = []
    for path in site.rglob("*"):
        if path.suffix == ".html":
            remote += [(path.name, url) for _, _, url in _ASSET.findall(path.read_text(errors="replace")) if _remote(url)]
        elif path.suffix == ".css":
            remote += [(path.name, url) for url in _CSS_URL.findall(path.read_text(errors="replace")) if _remote(url)]
    assert not remote, f"remote assets referenced: {remote[:10]}"
    index = (site / "index.html").read_text()
    assert "_static/mathjax/tex-chtml.js" in index
    assert (site / "_static" / "mathjax" / "output" / "chtml" / "fonts" / "woff-v2").is_dir()


def test_the_remote_asset_check_can_fail():
    html = '<script src="https://cdn.example/x.js"></script><link rel="stylesheet" href="_static/a.css"><img src="//x/y.png">'
    assert [url for _, _, url in _ASSET.findall(html) if _remote(url)] == ["https://cdn.example/x.js", "//x/y.png"]
    assert [u for u in _CSS_URL.findall("@font-face{src:url('https://fonts.example/f.woff2')} a{b:url(x.png)}") if _remote(u)]


def test_pages_in_headless_chromium(site, tmp_path):
    if browser_check.find_browser() is None or importlib.util.find_spec("selenium") is None:
        pytest.skip("headless Chromium check skipped: needs Debian's chromium and chromium-driver and the selenium "
                    "package (apt-get install chromium chromium-driver; the docs extra)")
    reports = browser_check.check_pages(site, screenshots=tmp_path)
    for page, report in reports.items():
        assert not browser_check.problems(report), f"{page}: {browser_check.problems(report)}"
    assert reports["index.html"]["math"] >= 3 and reports["concepts.html"]["math"] >= 10
    assert reports["tutorials/01_what_is_quantization.html"]["images"] >= 2
    assert reports["tutorials/01_what_is_quantization.html"]["math"] >= 1
