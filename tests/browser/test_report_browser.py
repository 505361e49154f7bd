"""The HTML report opened in a real browser: headless Chromium (Debian's ``chromium``) driven by Playwright.

Run them with ``pytest tests/browser/test_report_browser.py``; they are skipped, with the reason, where Playwright or
Chromium is missing (``pip install -e '.[test]'`` and ``apt-get install chromium``; ``.ci/run`` installs both).
"""

import os
import shutil

import cv2
import numpy as np
import pytest

playwright = pytest.importorskip("playwright.sync_api", reason="Playwright comes with the test extra: pip install -e '.[test]'")
CHROMIUM = next(filter(None, map(shutil.which, ("chromium", "chromium-browser"))), None)
pytestmark = [pytest.mark.slow, pytest.mark.skipif(CHROMIUM is None, reason="no Chromium on PATH: apt-get install chromium")]


@pytest.fixture(scope="module")
def browser():
    with playwright.sync_playwright() as driver:
        # --no-sandbox: Chromium's sandbox cannot start as root, which CI containers are
        browser = driver.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield browser
        browser.close()


@pytest.fixture
def opened(browser, report_collection):
    """The report's page, loaded, with every console message, page error and request recorded."""
    pipeline, report = report_collection
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    page.messages, page.errors, page.requests = [], [], []
    page.on("console", lambda message: page.messages.append(message))
    page.on("pageerror", lambda error: page.errors.append(error))
    page.on("request", lambda request: page.requests.append(request.url))
    page.goto((report / "index.html").as_uri())
    page.wait_for_function("window.caeSimReport && window.caeSimReport.ready")
    yield page, pipeline, report
    page.close()


def test_the_page_loads_without_errors_or_requests_outside_its_folder(opened):
    page, _, report = opened
    page.evaluate("document.querySelectorAll('img').forEach((img) => { img.loading = 'eager'; })")
    page.wait_for_function("[...document.images].every((img) => img.complete)")
    assert page.errors == []
    assert [m.text for m in page.messages if m.type in ("error", "warning")] == []
    inside = report.as_uri() + "/"
    assert page.requests and all(url.startswith(inside) for url in page.requests), page.requests


def test_every_cluster_section_and_thumbnail_is_there(opened):
    page, pipeline, _ = opened
    sections = page.eval_on_selector_all("section.cluster", "sections => sections.map((s) => Number(s.dataset.cluster))")
    assert sorted(sections) == np.unique(pipeline.labels_).tolist()
    page.evaluate("document.querySelectorAll('img').forEach((img) => { img.loading = 'eager'; })")
    page.wait_for_function("[...document.images].every((img) => img.complete)")
    broken = page.evaluate("[...document.images].filter((img) => img.naturalWidth === 0).map((img) => img.src)")
    assert broken == []
    assert page.evaluate("document.images.length") > len(sections)


def isolated_point(page, pipeline) -> int:
    """An image whose point on the map is more than the click radius away from every other point."""
    points = np.array([page.evaluate(f"caeSimReport.pointOf({i})") for i in range(len(pipeline.paths_))])
    gaps = np.linalg.norm(points[:, None] - points[None], axis=-1) + np.eye(len(points)) * 1e9
    return int(np.argmax(gaps.min(axis=1)))


def test_clicking_a_point_opens_its_panel_with_the_neighbours_query_gives(opened):
    page, pipeline, _ = opened
    i = isolated_point(page, pipeline)
    page.locator("#map").scroll_into_view_if_needed()
    box = page.locator("#map").bounding_box()
    x, y = page.evaluate(f"caeSimReport.screenPointOf({i})")
    page.mouse.move(box["x"] + x, box["y"] + y)
    assert page.get_attribute("#tooltip img", "src") == f"thumbs/{i}.jpg"
    page.mouse.click(box["x"] + x, box["y"] + y)
    assert page.is_visible("#panel") and page.get_attribute("#panel", "data-i") == str(i)
    assert page.inner_text("#panel-path") == pipeline.paths_[i]
    assert page.inner_text("#panel-cluster") == str(pipeline.labels_[i])
    listed = page.eval_on_selector_all("#panel-neighbors li", "items => items.map((li) => Number(li.dataset.i))")
    scores = page.eval_on_selector_all("#panel-neighbors .score", "spans => spans.map((s) => Number(s.textContent))")
    expected = [m for m in pipeline.query(pipeline.paths_[i], n=5) if m.index != i][:4]
    assert listed == [m.index for m in expected]
    assert np.allclose(scores, [m.score for m in expected], atol=1e-4)
    kinds = page.eval_on_selector_all("#panel-neighbors .kind", "spans => spans.map((s) => s.textContent)")
    assert kinds == [pipeline.describe_score(m.score) for m in expected]


def test_clicking_a_thumbnail_opens_its_panel_and_escape_closes_it(opened):
    page, _, _ = opened
    first_outlier = page.locator("section.cluster .outliers img").first
    i = int(first_outlier.get_attribute("data-i"))
    first_outlier.click()
    assert page.get_attribute("#panel", "data-i") == str(i)
    nearest = page.locator("#panel-neighbors li").first.get_attribute("data-i")
    page.locator("#panel-neighbors img").first.click()
    assert page.get_attribute("#panel", "data-i") == nearest != str(i)
    page.keyboard.press("Escape")
    assert not page.is_visible("#panel")


def test_the_duplicates_section_shows_each_group_side_by_side(opened):
    page, pipeline, _ = opened
    groups = page.eval_on_selector_all(
        "#duplicates .group", "groups => groups.map((g) => [...g.querySelectorAll('img')].map((img) => Number(img.dataset.i)))"
    )
    assert groups == pipeline.duplicates()
    names = page.eval_on_selector_all("#duplicates figcaption", "captions => captions.map((c) => c.textContent)")
    assert names == [os.path.basename(pipeline.paths_[i]) for group in groups for i in group]


def dot_size(page, pipeline) -> tuple[int, int]:
    """The width and height, in screen pixels, of the coloured pixels of an isolated point's dot on the map."""
    i = isolated_point(page, pipeline)
    page.locator("#map").scroll_into_view_if_needed()
    x, y = np.round(page.evaluate(f"caeSimReport.screenPointOf({i})")).astype(int)
    shot = cv2.imdecode(np.frombuffer(page.locator("#map").screenshot(), np.uint8), cv2.IMREAD_COLOR)
    around = shot[y - 8 : y + 9, x - 8 : x + 9].astype(int)
    rows, columns = np.nonzero(np.abs(around - 255).sum(axis=2) > 100)  # clearly coloured, not an antialiased rim
    return int(np.ptp(columns)) + 1, int(np.ptp(rows)) + 1


@pytest.mark.parametrize("width", [1200, 400])
def test_a_dot_on_the_map_is_at_least_6_px_across_however_wide_the_page(opened, width):
    page, pipeline, _ = opened
    page.set_viewport_size({"width": width, "height": 900})
    page.wait_for_function(f"document.getElementById('map').getBoundingClientRect().width < {width}")
    assert all(6 <= side <= 9 for side in dot_size(page, pipeline))


#: A path of short names with hyphens (where text may wrap, a path should not) and one name wider than any panel.
LONG_PATH = "/home/ann/photo-archive/summer-2024/camera-roll/" + "-".join(["beach"] * 16) + "/IMG-0042.jpg"


def test_a_long_path_in_the_image_panel_wraps_after_a_separator_not_inside_a_name(opened):
    """Every path shown in the panel wraps between names, and inside a name only where that alone is too wide."""
    page, _, _ = opened
    page.set_viewport_size({"width": 480, "height": 900})
    page.evaluate(f"caeSimReport.data.paths.fill({LONG_PATH!r}); caeSimReport.openPanel(0)")
    names = LONG_PATH.split("/")
    for selector in ["#panel-path", *[f"#panel-neighbors li:nth-child({k}) .path" for k in range(1, 5)]]:
        assert page.eval_on_selector(selector, "e => getComputedStyle(e).overflowWrap") == "anywhere"
        assert page.inner_text(selector) == LONG_PATH
        lines_of_each_name = page.eval_on_selector(selector, """e => [...e.children].map((name) => {
            const range = document.createRange();
            range.selectNodeContents(name);
            return new Set([...range.getClientRects()].map((r) => Math.round(r.top))).size;
        })""")
        too_wide = names.index("-".join(["beach"] * 16))
        assert lines_of_each_name[too_wide] > 1 and lines_of_each_name[:too_wide] + lines_of_each_name[too_wide + 1 :] == [1] * (len(names) - 1)
        lines = page.eval_on_selector(selector, "e => e.getBoundingClientRect().height / parseFloat(getComputedStyle(e).lineHeight)")
        assert lines > sum(lines_of_each_name[too_wide:])  # the names before the long one wrap as well
        assert page.eval_on_selector(selector, "e => e.scrollWidth <= e.clientWidth")
