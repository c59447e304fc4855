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


def test_filter_failed_sends_and_open_one(browser, live_server, django_user_model, log_rows):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait

    django_user_model.objects.create_superuser("admin", "admin@example.com", PASSWORD)
    wait = WebDriverWait(browser, 15)
    list_path = "/admin/django_ses_query/emaillog/"

    # Log in.
    browser.get(f"{live_server.url}/admin/login/?next={list_path}")
    browser.find_element(By.ID, "id_username").send_keys("admin")
    browser.find_element(By.ID, "id_password").send_keys(PASSWORD)
    browser.find_element(By.CSS_SELECTOR, "#login-form [type=submit]").click()
    wait.until(EC.presence_of_element_located((By.ID, "result_list")))
    assert len(browser.find_elements(By.CSS_SELECTOR, "#result_list tbody tr")) == 3

    # Filter the failed sends.
    browser.find_element(By.CSS_SELECTOR, "#changelist-filter a[href*='status__exact=failed']").click()
    wait.until(EC.url_contains("status__exact=failed"))
    rows = browser.find_elements(By.CSS_SELECTOR, "#result_list tbody tr")
    assert len(rows) == 2
    assert [row.find_element(By.CSS_SELECTOR, ".sesq-status").text.lower() for row in rows] == ["failed", "failed"]
    label = rows[0].find_element(By.CSS_SELECTOR, ".sesq-status-failed")
    assert label.value_of_css_property("background-color") in ("rgb(186, 33, 33)", "rgba(186, 33, 33, 1)")
    subjects = [row.find_element(By.CSS_SELECTOR, "td.field-subject").text for row in rows]
    assert HTML_SUBJECT in subjects and "Plain failure" in subjects
    assert browser.find_elements(By.CSS_SELECTOR, "#result_list b, #result_list i") == []

    # Open the one with the HTML subject.
    row = next(r for r in rows if r.find_element(By.CSS_SELECTOR, "td.field-subject").text == HTML_SUBJECT)
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
