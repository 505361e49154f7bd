"""The newcomer walk: the report's cluster-size bars start at one edge whatever the width of their cluster's name
(with ten clusters or more, "Cluster 10"'s bar began further right than "Cluster 9"'s, so bars of one size looked
unequal)."""

import shutil

import pytest

from cae_sim import Pipeline
from cae_sim.cli import main

CHROMIUM = next(filter(None, map(shutil.which, ("chromium", "chromium-browser"))), None)
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def save(tmp_path_factory, data_dir):
    out = tmp_path_factory.mktemp("walk_report") / "m"
    Pipeline(encoder="phash", n_clusters=11, random_state=0).fit(data_dir).save(out)
    return out


@pytest.mark.skipif(CHROMIUM is None, reason="no Chromium on PATH: apt-get install chromium")
def test_the_cluster_size_bars_start_at_one_edge(save, tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright comes with the test extra")
    assert main(["report", str(save), "--out", str(tmp_path / "report"), "--quiet"]) == 0
    with sync_api.sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = browser.new_page()
            page.goto((tmp_path / "report" / "index.html").as_uri())
            names = page.eval_on_selector_all(".sizes a", "links => links.map(a => a.textContent)")
            lefts = page.eval_on_selector_all(".sizes .bar", "bars => bars.map(b => b.getBoundingClientRect().left)")
        finally:
            browser.close()
    assert "Cluster 10" in names and "Cluster 9" in names and len(lefts) == 11
    assert max(lefts) - min(lefts) < 0.5
