"""The sending dashboard in Debian's Chromium (see test_browser.py): the
figures of a seeded log, in the dark theme at 1280 px, and the screenshot
README.rst shows (``docs/admin-dashboard.png``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from django_ses_query.dashboard import quota
from tests.dashboard_seed import at, seed
from tests.test_browser import PASSWORD, browser  # noqa: F401 (the fixture)

SCREENSHOT = Path(__file__).resolve().parent.parent / "docs" / "admin-dashboard.png"
DASHBOARD = "/admin/django_ses_query/emaillog/dashboard/"

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_dashboard_figures_dark_theme_screenshot(browser, live_server, django_user_model, fake_ses):  # noqa: F811
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait

    quota.clear_cache()
    expected = seed()
    django_user_model.objects.create_superuser("admin", "admin@example.com", PASSWORD)
    wait = WebDriverWait(browser, 15)

    browser.get(f"{live_server.url}/admin/login/?next={DASHBOARD}")
    browser.find_element(By.ID, "id_username").send_keys("admin")
    browser.find_element(By.ID, "id_password").send_keys(PASSWORD)
    browser.find_element(By.CSS_SELECTOR, "#login-form [type=submit]").click()
    wait.until(EC.presence_of_element_located((By.ID, "sesq-sends")))
    # The admin's dark theme (its theme toggle keeps the choice here).
    browser.execute_script("localStorage.setItem('theme', 'dark')")
    browser.refresh()
    wait.until(EC.presence_of_element_located((By.ID, "sesq-sends")))
    assert browser.find_element(By.TAG_NAME, "html").get_attribute("data-theme") == "dark"

    def totals(section):
        return {
            item.get_attribute("data-key"): int(item.find_element(By.CSS_SELECTOR, ".sesq-count").text)
            for item in browser.find_elements(By.CSS_SELECTOR, f"#sesq-{section} .sesq-total")
        }

    assert totals("sends") == {"sent": 10, "failed": 1, "unknown": 1, "suppressed": 0, "queued": 0, "sending": 0}
    assert totals("outcomes") == {"delivered": 5, "delayed": 1, "bounced": 3, "complained": 1}
    assert browser.find_element(By.CSS_SELECTOR, "#sesq-rate-bounce .sesq-rate-value").text == expected["bounce_rate"]
    assert browser.find_element(By.CSS_SELECTOR, "#sesq-rate-complaint .sesq-rate-value").text == expected["complaint_rate"]
    reasons = [
        tuple(cell.text for cell in row.find_elements(By.TAG_NAME, "td"))
        for row in browser.find_elements(By.CSS_SELECTOR, "#sesq-reasons tr.sesq-reason")
    ]
    assert reasons == [(kind, label, str(n)) for kind, label, n in expected["reasons"]]
    assert "127 of 200 sent in the last 24 hours" in browser.find_element(By.ID, "sesq-quota").text

    # The bars: today's "sent" segment is drawn, with its tooltip.
    titles = [
        t.get_attribute("textContent")
        for t in browser.find_elements(By.CSS_SELECTOR, "#sesq-sends svg rect > title")
    ]
    assert f"{at(0).date().isoformat()} sent: 4" in titles
    sent_bar = browser.find_element(By.CSS_SELECTOR, "#sesq-sends svg rect.sesq-series-sent")
    assert sent_bar.size["height"] > 10 and sent_bar.size["width"] > 5
    # Readable in the dark theme: light axis labels on a dark card.
    label = browser.find_element(By.CSS_SELECTOR, "#sesq-sends svg text.sesq-axis")
    assert label.value_of_css_property("fill") in ("rgb(208, 208, 208)", "rgba(208, 208, 208, 1)")
    # At 1280 px nothing scrolls sideways, and the two charts sit side by side.
    assert browser.execute_script("return document.documentElement.scrollWidth <= window.innerWidth")
    sends = browser.find_element(By.ID, "sesq-sends").rect
    outcomes = browser.find_element(By.ID, "sesq-outcomes").rect
    assert outcomes["x"] > sends["x"] + sends["width"] - 1 and abs(outcomes["y"] - sends["y"]) < 2

    SCREENSHOT.parent.mkdir(exist_ok=True)
    height = browser.execute_script("return document.documentElement.scrollHeight")
    browser.set_window_size(1280, max(height + 140, 800))
    browser.save_screenshot(str(SCREENSHOT))
    assert SCREENSHOT.stat().st_size > 10_000

    # A reason opens the log filtered to its messages.
    browser.find_element(By.LINK_TEXT, "Permanent / General").click()
    wait.until(EC.presence_of_element_located((By.ID, "result_list")))
    assert len(browser.find_elements(By.CSS_SELECTOR, "#result_list tbody tr")) == 2
