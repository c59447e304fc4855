"""Screenshot of the admin's email log list, for the README.

Run after ``bash example_project/demo.sh`` (which leaves its database, with
the demo's sent and failed rows, and the ``admin``/``admin`` superuser)::

    example_project/.venv/bin/python example_project/screenshot.py

It serves the project on a free local port (``runserver --noreload
--skip-checks``: viewing the log needs no SES), logs in through the login
form with Debian's headless Chromium driven by Selenium
(``apt-get install chromium chromium-driver``; Selenium is pip-installed into
this virtualenv when missing), and saves ``docs/admin-email-log.png``.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parent
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
LIST_PATH = "/admin/django_ses_query/emaillog/"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_up(url: str, server: subprocess.Popen, timeout: float = 30.0) -> None:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    deadline = time.monotonic() + timeout
    while True:
        if server.poll() is not None:
            raise SystemExit(f"runserver exited with status {server.returncode}")
        try:
            with opener.open(url, timeout=2):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise SystemExit(f"runserver did not answer on {url} within {timeout:g}s")
            time.sleep(0.2)


def ensure_selenium() -> None:
    try:
        import selenium  # noqa: F401
    except ImportError:
        print("Installing Selenium into this virtualenv...", flush=True)
        subprocess.check_call([sys.executable, "-m", "pip", "install", "-q", "selenium"])


def take(base_url: str, out: Path, width: int, height: int) -> None:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--hide-scrollbars",
        f"--window-size={width},{height}",
    ):
        options.add_argument(argument)
    with tempfile.TemporaryDirectory(prefix="chromium-") as profile:
        options.add_argument(f"--user-data-dir={profile}")
        driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
        try:
            driver.get(f"{base_url}/admin/login/?next={LIST_PATH}")
            driver.find_element(By.NAME, "username").send_keys("admin")
            driver.find_element(By.NAME, "password").send_keys("admin")
            driver.find_element(By.CSS_SELECTOR, "input[type=submit], button[type=submit]").click()
            WebDriverWait(driver, 20).until(
                expected_conditions.presence_of_element_located((By.ID, "result_list"))
            )
            # The page itself exactly width x height, whatever the window adds.
            driver.execute_cdp_cmd(
                "Emulation.setDeviceMetricsOverride",
                {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
            )
            # More room for the list: fold the admin's navigation sidebar.
            toggles = driver.find_elements(By.ID, "toggle-nav-sidebar")
            sidebar = driver.find_elements(By.ID, "nav-sidebar")
            if toggles and sidebar and sidebar[0].is_displayed():
                toggles[0].click()
                time.sleep(0.3)
            rows = driver.find_elements(By.CSS_SELECTOR, "#result_list tbody tr")
            page = driver.find_element(By.TAG_NAME, "body").text
            for word in ("sent", "failed"):
                if word not in page.lower():
                    raise SystemExit(f"The list shows no {word!r} row: run demo.sh first.")
            out.parent.mkdir(parents=True, exist_ok=True)
            driver.save_screenshot(str(out))
            print(f"Saved {out} ({len(rows)} rows, {width}x{height})")
        finally:
            driver.quit()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "docs" / "admin-email-log.png")
    parser.add_argument("--width", type=int, default=1400)
    parser.add_argument("--height", type=int, default=800)
    args = parser.parse_args()

    if not (HERE / "db.sqlite3").exists() and not os.environ.get("SES_DEMO_DATABASE"):
        raise SystemExit("No example_project/db.sqlite3: run bash example_project/demo.sh first.")
    for path in (CHROMIUM, CHROMEDRIVER):
        if not Path(path).exists():
            raise SystemExit(f"{path} is missing: apt-get install -y chromium chromium-driver")
    ensure_selenium()

    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [sys.executable, str(HERE / "manage.py"), "runserver", "--noreload", "--skip-checks",
         f"127.0.0.1:{port}"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until_up(f"{base_url}/admin/login/", server)
        take(base_url, args.out, args.width, args.height)
    finally:
        server.terminate()
        server.wait(timeout=10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
