"""The send log admin in a real browser: Debian's Chromium, driven by Selenium,
against pytest-django's live server.

Needs ``chromium`` and ``chromedriver`` on PATH (Debian: ``apt-get install
chromium chromium-driver``); Selenium is pointed at them, so Selenium Manager
never downloads anything.
"""

from __future__ import annotations

import os
import shutil

import pytest
from django.core.mail import EmailMessage

from django_ses_query.backend import EmailBackend
from tests.fakeses import error

CHROMIUM = shutil.which("chromium")
CHROMEDRIVER = shutil.which("chromedriver")
HTML_SUBJECT = "<b>Bold</b> claim & <i>more</i>"
PASSWORD = "correct horse battery staple"
LIST_PATH = "/admin/django_ses_query/emaillog/"

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def browser(tmp_path, monkeypatch):
    if not CHROMIUM or not CHROMEDRIVER:
        if os.environ.get("CI"):
            pytest.fail("CI must install chromium and chromium-driver (see .ci/run).")
        pytest.skip(
            "chromium and chromedriver are not on PATH "
            "(Debian: apt-get install chromium chromium-driver)"
        )
    # Selenium Manager is not needed (both paths are given); keep it offline.
    monkeypatch.setenv("SE_OFFLINE", "true")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in (
        "--headless=new",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--window-size=1280,1024",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
    ):
        options.add_argument(argument)
    if os.geteuid() == 0:
        options.add_argument("--no-sandbox")
    driver = webdriver.Chrome(
        options=options,
        service=Service(executable_path=CHROMEDRIVER, log_output=str(tmp_path / "chromedriver.log")),
    )
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def log_rows(fake_ses):
    """A sent message and two failed ones, one with an HTML subject."""
    backend = EmailBackend(fail_silently=True, max_concurrency=1)
    fake_ses.enqueue(error("MessageRejected"))
    backend.send_messages([EmailMessage(HTML_SUBJECT, "body", "from@example.com", ["victim@example.com"])])
    fake_ses.enqueue(error("MailFromDomainNotVerified"))
    backend.send_messages([EmailMessage("Plain failure", "body", "from@example.com", ["b@example.com"])])
    backend.send_messages([EmailMessage("Welcome", "body", "from@example.com", ["c@example.com"])])
    assert len(fake_ses.sent) == 1


def log_in_to_the_list(browser, live_server, django_user_model) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait

    django_user_model.objects.create_superuser("admin", "admin@example.com", PASSWORD)
    browser.get(f"{live_server.url}/admin/login/?next={LIST_PATH}")
    browser.find_element(By.ID, "id_username").send_keys("admin")
    browser.find_element(By.ID, "id_password").send_keys(PASSWORD)
    browser.find_element(By.CSS_SELECTOR, "#login-form [type=submit]").click()
    WebDriverWait(browser, 15).until(EC.presence_of_element_located((By.ID, "result_list")))


def test_filter_failed_sends_and_open_one(browser, live_server, django_user_model, log_rows):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait

    wait = WebDriverWait(browser, 15)
    log_in_to_the_list(browser, live_server, django_user_model)
    assert len(browser.find_elements(By.CSS_SELECTOR, "#result_list tbody tr")) == 3

    # Filter the failed sends.
    browser.find_element(By.CSS_SELECTOR, "#changelist-filter a[href*='status__exact=failed']").click()
    wait.until(EC.url_contains("status__exact=failed"))
    rows = browser.find_elements(By.CSS_SELECTOR, "#result_list tbody tr")
    assert len(rows) == 2
    assert [row.find_element(By.CSS_SELECTOR, ".sesq-status").text.lower() for row in rows] == ["failed", "failed"]
    label = rows[0].find_element(By.CSS_SELECTOR, ".sesq-status-failed")
    assert label.value_of_css_property("background-color") in ("rgb(186, 33, 33)", "rgba(186, 33, 33, 1)")
    subjects = [row.find_element(By.CSS_SELECTOR, "td.field-subject_summary").text for row in rows]
    assert HTML_SUBJECT in subjects and "Plain failure" in subjects
    assert browser.find_elements(By.CSS_SELECTOR, "#result_list b, #result_list i") == []

    # Open the one with the HTML subject.
    row = next(r for r in rows if r.find_element(By.CSS_SELECTOR, "td.field-subject_summary").text == HTML_SUBJECT)
    row.find_element(By.CSS_SELECTOR, "th a").click()
    wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, ".field-subject")))

    subject = browser.find_element(By.CSS_SELECTOR, ".field-subject .readonly")
    assert subject.text == HTML_SUBJECT  # the literal <b> characters are visible
    assert subject.find_elements(By.XPATH, ".//*") == []
    assert browser.find_elements(By.XPATH, "//b[contains(., 'Bold')] | //i[contains(., 'more')]") == []
    assert HTML_SUBJECT in browser.title
    assert browser.find_element(By.CSS_SELECTOR, ".field-error_code .readonly").text == "MessageRejected"
    assert "Example Sender <sender@example.com>" in browser.find_element(By.CSS_SELECTOR, ".field-error_message .readonly").text
    assert browser.find_element(By.CSS_SELECTOR, ".field-to_display .readonly").text == "victim@example.com"
    # Read-only: nothing to save.
    assert browser.find_elements(By.CSS_SELECTOR, "[name=_save], textarea, input[name=subject]") == []


#: The list's columns that must be in view at 1280 px: field name → header.
COLUMNS_IN_VIEW = {
    "created_at": "Created at",
    "status_label": "Status",
    "outcome": "Outcome",
    "to_summary": "To",
    "subject_summary": "Subject",
}

#: Where each of those columns' cells is, and whether the results scroll.
MEASURE_COLUMNS = """
const results = document.querySelector("#changelist-form .results");
const box = results.getBoundingClientRect();
const columns = {};
for (const name of arguments[0]) {
  const header = document.querySelector(`#result_list thead th.column-${name}`);
  const cells = [header, ...document.querySelectorAll(`#result_list tbody .field-${name}`)].filter(Boolean);
  columns[name] = {
    label: header ? header.textContent.trim() : null,
    cells: cells.map(cell => {
      const r = cell.getBoundingClientRect();
      return [r.left, r.right];
    }),
  };
}
return {
  windowWidth: window.innerWidth,
  results: [box.left, box.right],
  scrollWidth: results.scrollWidth,
  clientWidth: results.clientWidth,
  pageScrollWidth: document.documentElement.scrollWidth,
  navSidebar: getComputedStyle(document.getElementById("nav-sidebar")).visibility,
  filters: document.getElementById("changelist-filter").getBoundingClientRect().width,
  columns: columns,
};
"""


@pytest.fixture
def wide_rows():
    """Rows with the widest things the list meets: long subjects with and
    without spaces, long and many addresses, every status and outcome."""
    from django_ses_query.models import EmailLog

    long_address = (
        "Alexandra Example-Longname "
        "<alexandra.with-a-long-local-part@mail.subdomain.example-corporation.example>"
    )
    rows = [
        dict(
            status="sent", outcome="complained",
            message_id="0100018c4f6a1b2c-1c0e2f3a-4b5c-6d7e-8f90-a1b2c3d4e5f6-000000",
            to=[long_address, *(f"recipient{n}@example.net" for n in range(8))],
            subject="A subject as long as a newsletter's: " + "the quarterly results, the roadmap and more " * 6,
        ),
        dict(
            status="failed", error_code="MailFromDomainNotVerified", from_email="someone@unverified.example.org",
            to=["erin@example.net"],
            subject="Invoice-2026-000123456789-ACME-Corporation-International-Quarterly-Statement",
        ),
        dict(status="suppressed", to=["carol.has.a.long.address@suppressed-recipients.example.org"],
             subject="Suppressed"),
        dict(status="unknown", outcome="delayed", error_code="ReadTimeout", to=["dave@example.net"],
             subject="Unknown"),
        dict(status="queued", to=["queued@example.net"], subject="Queued"),
        dict(status="sent", outcome="delivered", to=["Alice Example <alice@example.net>"], subject="Welcome"),
        dict(status="sent", outcome="bounced", to=["bob@example.net"], subject="Bounced"),
    ]
    for row in rows:
        EmailLog.objects.create(from_email=row.pop("from_email", "Example Sender <sender@example.com>"), **row)


def test_at_1280_px_the_main_columns_are_in_view_and_nothing_scrolls_sideways(
    browser, live_server, django_user_model, wide_rows
):
    from selenium.webdriver.common.by import By

    # The page exactly 1280 px wide, whatever the window adds around it.
    browser.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": 1280, "height": 1024, "deviceScaleFactor": 1, "mobile": False},
    )
    log_in_to_the_list(browser, live_server, django_user_model)
    assert len(browser.find_elements(By.CSS_SELECTOR, "#result_list tbody tr")) == 7

    found = browser.execute_script(MEASURE_COLUMNS, list(COLUMNS_IN_VIEW))

    assert found["windowWidth"] == 1280
    # The admin as a new user first sees it: navigation sidebar open, filters shown.
    assert found["navSidebar"] == "visible"
    assert found["filters"] > 200
    left, right = found["results"]
    assert 0 <= left < right <= 1280
    for name, label in COLUMNS_IN_VIEW.items():
        column = found["columns"][name]
        assert column["label"] == label
        assert len(column["cells"]) == 8, name  # the header and seven rows
        for cell_left, cell_right in column["cells"]:
            assert left - 0.5 <= cell_left and cell_right <= right + 0.5, (name, cell_left, cell_right, found)
    assert found["scrollWidth"] <= found["clientWidth"], found
    assert found["pageScrollWidth"] <= 1280, found
