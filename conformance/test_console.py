"""The web console at the TAP base URL, driven end to end in headless Chromium (Debian's
chromium and chromium-driver, through selenium): type a query, run it, and check the table and
the sky plot against what /sync answers for the same query; a malformed query shows the
positioned error next to the editor."""
import csv
import io
import os
import re
import shutil
import tempfile
import xml.etree.ElementTree as ET

import pytest
import requests

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select, WebDriverWait

CHROMIUM = os.environ.get("PARALLAX_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("PARALLAX_CHROMEDRIVER", "/usr/bin/chromedriver")
TIMEOUT = 60

QUERY = (
    "SELECT TOP 250 source_id, ra, dec, phot_g_mean_mag\n"
    "FROM gaiadr3.gaia_source\n"
    "ORDER BY source_id"
)
MALFORMED = "SELECT TOP 3 sourc_id, FROM gaiadr3.gaia_source"
VOT = "{http://www.ivoa.net/xml/VOTable/v1.3}"


@pytest.fixture(scope="module")
def browser():
    for path in (CHROMIUM, CHROMEDRIVER):
        if not os.path.exists(path):
            pytest.fail(f"{path} is missing: scripts/install-test-deps.sh installs chromium and chromium-driver")
    profile = tempfile.mkdtemp(prefix="parallax-chromium-")
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        "--window-size=1400,1000",
        f"--user-data-dir={profile}",
    ):
        opts.add_argument(arg)
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=opts)
    driver.set_page_load_timeout(TIMEOUT)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def sync_csv(tap_url, query):
    r = requests.post(
        f"{tap_url}/sync", data={"LANG": "ADQL", "FORMAT": "csv", "QUERY": query}, timeout=TIMEOUT
    )
    assert r.status_code == 200, r.text
    rows = list(csv.reader(io.StringIO(r.text)))
    return rows[0], rows[1:]


def open_console(driver, tap_url):
    driver.get(tap_url)
    WebDriverWait(driver, TIMEOUT).until(
        lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-ready") == "true"
    )
    # Examples are fetched after the page loads.
    WebDriverWait(driver, TIMEOUT).until(
        lambda d: d.find_element(By.ID, "example").get_attribute("data-count") is not None
    )


def type_query(driver, query):
    editor = driver.find_element(By.ID, "editor")
    editor.clear()
    editor.send_keys(query)
    assert editor.get_attribute("value") == query
    return editor


def wait_idle(driver):
    WebDriverWait(driver, TIMEOUT).until(
        lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-busy") == "false"
    )


def cells(driver, row):
    tr = driver.find_elements(By.CSS_SELECTOR, "#results tbody tr")[row]
    return [td.text for td in tr.find_elements(By.TAG_NAME, "td")]


PLOTTED_PIXELS = """
const c = document.getElementById('sky');
const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
let n = 0;
for (let i = 0; i < d.length; i += 4) {
  if (d[i] > 200 && d[i + 1] > 150 && d[i + 2] < 120) n++;
}
return n;
"""


def test_console_is_served_to_browsers(browser, tap_url):
    open_console(browser, tap_url)
    assert browser.title == "Parallax console"
    # The /examples queries are offered in the editor's example list.
    r = requests.get(f"{tap_url}/examples", timeout=TIMEOUT)
    expected = len(re.findall(r'property="query"', r.text))
    assert expected > 0
    select = Select(browser.find_element(By.ID, "example"))
    assert len(select.options) == expected + 1  # plus the "choose" prompt
    select.select_by_index(1)
    first = ET.fromstring(r.content).find(".//*[@property='query']")
    assert browser.find_element(By.ID, "editor").get_attribute("value") == first.text.strip()
    # Every control has an accessible name.
    for el in browser.find_elements(By.CSS_SELECTOR, "textarea, select, input"):
        assert browser.find_elements(By.CSS_SELECTOR, f"label[for='{el.get_attribute('id')}']"), el


def test_typed_query_fills_table_and_plot(browser, tap_url):
    header, expected = sync_csv(tap_url, QUERY)
    assert len(expected) == 250
    open_console(browser, tap_url)
    editor = type_query(browser, QUERY)
    editor.send_keys(Keys.CONTROL, Keys.ENTER)  # Ctrl+Enter runs
    WebDriverWait(browser, TIMEOUT).until(
        lambda d: d.find_element(By.ID, "results").get_attribute("data-rows") is not None
    )
    wait_idle(browser)
    assert browser.find_element(By.ID, "error").is_displayed() is False
    table = browser.find_element(By.ID, "results")
    assert int(table.get_attribute("data-rows")) == len(expected)
    heads = [th.text.split(" [")[0] for th in table.find_elements(By.CSS_SELECTOR, "thead th")]
    assert heads == header
    # Client-side paging: 100 rows per page.
    assert len(browser.find_elements(By.CSS_SELECTOR, "#results tbody tr")) == 100
    sid = header.index("source_id")
    assert cells(browser, 0)[sid] == expected[0][sid]
    assert cells(browser, 99)[sid] == expected[99][sid]
    browser.find_element(By.ID, "next-page").click()
    assert cells(browser, 0)[sid] == expected[100][sid]
    browser.find_element(By.ID, "last-page").click()
    assert len(browser.find_elements(By.CSS_SELECTOR, "#results tbody tr")) == 50
    assert cells(browser, 49)[sid] == expected[249][sid]
    # Numbers are shown as served: the 64-bit ids are not rounded.
    assert int(cells(browser, 49)[sid]) == int(expected[249][sid])

    # The sky plot: every row with a position is plotted, and shows on the canvas.
    ra, dec = header.index("ra"), header.index("dec")
    with_pos = sum(1 for row in expected if row[ra] and row[dec])
    canvas = browser.find_element(By.ID, "sky")
    assert int(canvas.get_attribute("data-points")) == with_pos
    assert canvas.get_attribute("data-projection") in ("allsky", "field")
    assert browser.execute_script(PLOTTED_PIXELS) > 0

    # Download links for every format, each of which the service answers.
    links = browser.find_elements(By.CSS_SELECTOR, "#download-links a")
    formats = {a.get_attribute("data-format"): a.get_attribute("href") for a in links}
    assert set(formats) == {"votable", "votable/b2", "votable/b", "csv", "tsv", "json", "parquet", "arrow"}
    r = requests.get(formats["csv"], timeout=TIMEOUT)
    assert r.status_code == 200
    assert list(csv.reader(io.StringIO(r.text)))[1:] == expected
    for fmt, href in formats.items():
        r = requests.get(href, timeout=TIMEOUT)
        assert r.status_code == 200, (fmt, r.text[:500])
        assert len(r.content) > 0


def test_nulls_are_shown_as_null(browser, tap_url):
    query = (
        "SELECT TOP 5 source_id, parallax FROM gaiadr3.gaia_source "
        "WHERE parallax IS NULL ORDER BY source_id"
    )
    header, expected = sync_csv(tap_url, query)
    assert expected, "the demo catalogue has sources without parallax"
    open_console(browser, tap_url)
    type_query(browser, query)
    browser.find_element(By.ID, "run-sync").click()
    WebDriverWait(browser, TIMEOUT).until(
        lambda d: d.find_element(By.ID, "results").get_attribute("data-rows") is not None
    )
    wait_idle(browser)
    plx = header.index("parallax")
    for i, row in enumerate(expected):
        assert row[plx] == ""
        assert cells(browser, i)[plx] == "NULL"
    td = browser.find_elements(By.CSS_SELECTOR, "#results tbody tr")[0].find_elements(By.TAG_NAME, "td")[plx]
    assert td.get_attribute("class") == "null"
    # No positions in this result: nothing is plotted.
    assert browser.find_element(By.ID, "sky").get_attribute("data-points") == "0"


def test_malformed_query_shows_positioned_error(browser, tap_url):
    r = requests.post(
        f"{tap_url}/sync", data={"LANG": "ADQL", "QUERY": MALFORMED}, timeout=TIMEOUT
    )
    assert r.status_code == 400
    info = [
        i for i in ET.fromstring(r.content).iter(f"{VOT}INFO") if i.get("name") == "QUERY_STATUS"
    ][0]
    expected = info.text.strip()
    line, column = map(int, re.search(r"line (\d+), column (\d+)", expected).groups())

    open_console(browser, tap_url)
    editor = type_query(browser, MALFORMED)
    editor.send_keys(Keys.CONTROL, Keys.ENTER)
    box = browser.find_element(By.ID, "error")
    WebDriverWait(browser, TIMEOUT).until(lambda d: box.is_displayed())
    assert box.text.strip() == expected
    assert (int(box.get_attribute("data-line")), int(box.get_attribute("data-column"))) == (line, column)
    # The caret is put where the error is.
    assert browser.execute_script("return document.getElementById('editor').selectionStart") == column - 1
    # The error sits next to the editor, which names it as its description.
    assert editor.get_attribute("aria-describedby") == "error"


def test_async_run_and_job_list(browser, tap_url):
    header, expected = sync_csv(tap_url, QUERY)
    open_console(browser, tap_url)
    type_query(browser, QUERY)
    browser.find_element(By.ID, "run-async").click()
    WebDriverWait(browser, TIMEOUT).until(
        lambda d: "async job" in d.find_element(By.ID, "summary").text
    )
    wait_idle(browser)
    table = browser.find_element(By.ID, "results")
    assert int(table.get_attribute("data-rows")) == len(expected)
    sid = header.index("source_id")
    assert cells(browser, 0)[sid] == expected[0][sid]
    job = re.search(r"async job (\S+?),", browser.find_element(By.ID, "summary").text).group(1)
    # The job list shows the job with its phase, as the UWS job list does.
    WebDriverWait(browser, TIMEOUT).until(
        lambda d: d.find_elements(By.CSS_SELECTOR, f"#jobs tr[data-job='{job}']")
    )
    row = browser.find_element(By.CSS_SELECTOR, f"#jobs tr[data-job='{job}']")
    assert row.find_elements(By.TAG_NAME, "td")[1].text == "COMPLETED"
    link = row.find_element(By.TAG_NAME, "a").get_attribute("href")
    assert requests.get(link, timeout=TIMEOUT).status_code == 200
