"""Screenshot of the admin's email log list, for the README, and a check
that the list fits a window 1280 px wide.

Run after ``bash example_project/demo.sh`` (which leaves its database, with
the demo's sent, failed and suppressed rows and their outcomes, and the
``admin``/``admin`` superuser)::

    example_project/.venv/bin/python example_project/screenshot.py

It serves the project on a free port of 127.0.0.1 (``runserver --noreload
--skip-checks``: viewing the log needs no SES), logs in through the login
form with Debian's headless Chromium driven by Selenium
(``apt-get install chromium chromium-driver``; Selenium is pip-installed into
this virtualenv when missing), and saves ``docs/admin-email-log.png``: the
list as a new user first sees it, with the navigation sidebar open and the
filters shown, the page 1280 px wide and as tall as the list.

It exits non-zero if the list lacks what the demo produces, or if a cell of
the Created at, Status, Outcome, To or Subject column is outside the results
area or the window, or the results table scrolls sideways. It measures at
1280 x 800 (where the window has a vertical scrollbar) and again at the
picture's size; the picture is saved either way, to show what is wrong.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parent
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
LIST_PATH = "/admin/django_ses_query/emaillog/"
WIDTH = 1280
#: The columns that must be in view: field name → header.
COLUMNS = {
    "created_at": "Created at",
    "status_label": "Status",
    "outcome": "Outcome",
    "to_summary": "To",
    "subject_summary": "Subject",
}
#: What the demo's log shows (see demo.py and demo_events.py).
STATUSES = ("sent", "failed", "suppressed")
OUTCOMES = ("delivered", "bounced", "complained")

#: Where the columns' cells are, and whether the results area scrolls.
MEASURE = """
const results = document.querySelector("#changelist-form .results");
const box = results.getBoundingClientRect();
const columns = {};
for (const name of arguments[0]) {
  const header = document.querySelector(`#result_list thead th.column-${name}`);
  const cells = [header, ...document.querySelectorAll(`#result_list tbody .field-${name}`)].filter(Boolean);
  columns[name] = {
    label: header ? header.textContent.trim() : null,
    left: Math.min(...cells.map(cell => cell.getBoundingClientRect().left)),
    right: Math.max(...cells.map(cell => cell.getBoundingClientRect().right)),
    texts: cells.slice(1).map(cell => cell.textContent.trim()),
  };
}
const sidebar = document.getElementById("nav-sidebar");
const filters = document.getElementById("changelist-filter");
return {
  windowWidth: window.innerWidth,
  pageWidth: document.documentElement.clientWidth,
  pageScrollWidth: document.documentElement.scrollWidth,
  pageHeight: document.documentElement.scrollHeight,
  results: [box.left, box.right],
  scrollWidth: results.scrollWidth,
  clientWidth: results.clientWidth,
  sidebarOpen: !!sidebar && getComputedStyle(sidebar).visibility === "visible",
  filtersShown: !!filters && filters.getBoundingClientRect().width > 0,
  columns: columns,
};
"""


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


def problems(found: dict) -> list[str]:
    """What is wrong with the list as measured (nothing: an empty list)."""
    wrong = []
    if not found["sidebarOpen"]:
        wrong.append("the navigation sidebar is not open")
    if not found["filtersShown"]:
        wrong.append("the filters are not shown")
    left, right = found["results"]
    right = min(right, found["pageWidth"])
    for name, label in COLUMNS.items():
        column = found["columns"][name]
        if column["label"] != label:
            wrong.append(f"no {label!r} column (found {column['label']!r})")
        elif column["left"] < left - 0.5 or column["right"] > right + 0.5:
            wrong.append(
                f"{label} ({column['left']:.0f}-{column['right']:.0f} px) is not inside "
                f"the results area ({left:.0f}-{right:.0f} px)"
            )
    if found["scrollWidth"] > found["clientWidth"]:
        wrong.append(f"the results scroll sideways ({found['scrollWidth']} px in {found['clientWidth']} px)")
    if found["pageScrollWidth"] > found["pageWidth"]:
        wrong.append(f"the page scrolls sideways ({found['pageScrollWidth']} px in {found['pageWidth']} px)")
    return wrong


def report(found: dict, size: str) -> None:
    left, right = found["results"]
    columns = ", ".join(
        f"{label} {found['columns'][name]['left']:.0f}-{found['columns'][name]['right']:.0f}"
        for name, label in COLUMNS.items()
    )
    print(
        f"At {size}: results area {left:.0f}-{right:.0f} px, table {found['scrollWidth']} px "
        f"in {found['clientWidth']} px; {columns}"
    )


def demo_rows_missing(found: dict) -> list[str]:
    statuses = {text.lower() for text in found["columns"]["status_label"]["texts"]}
    outcomes = set(found["columns"]["outcome"]["texts"])
    return [word for word in (*STATUSES, *OUTCOMES) if word not in statuses | outcomes]


def set_size(driver, width: int, height: int) -> None:
    # The page exactly width x height, whatever the window adds around it.
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
    )


def take(base_url: str, out: Path) -> list[str]:
    """Save the picture; return what is wrong with the list."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

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
        f"--window-size={WIDTH},800",
    ):
        options.add_argument(argument)
    if os.geteuid() == 0:
        options.add_argument("--no-sandbox")
    with tempfile.TemporaryDirectory(prefix="chromium-") as profile:
        options.add_argument(f"--user-data-dir={profile}")
        driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
        try:
            set_size(driver, WIDTH, 800)
            driver.get(f"{base_url}/admin/login/?next={LIST_PATH}")
            driver.find_element(By.NAME, "username").send_keys("admin")
            driver.find_element(By.NAME, "password").send_keys("admin")
            driver.find_element(By.CSS_SELECTOR, "input[type=submit], button[type=submit]").click()
            WebDriverWait(driver, 20).until(
                expected_conditions.presence_of_element_located((By.ID, "result_list"))
            )
            found = driver.execute_script(MEASURE, list(COLUMNS))
            missing = demo_rows_missing(found)
            if missing:
                raise SystemExit(f"The list shows no {', '.join(missing)} row: run demo.sh first.")
            report(found, f"{WIDTH} x 800")
            wrong = problems(found)

            height = max(800, min(found["pageHeight"], 4000))
            set_size(driver, WIDTH, height)
            found = driver.execute_script(MEASURE, list(COLUMNS))
            report(found, f"{WIDTH} x {height}")
            wrong += [problem for problem in problems(found) if problem not in wrong]

            out.parent.mkdir(parents=True, exist_ok=True)
            driver.save_screenshot(str(out))
            rows = len(driver.find_elements(By.CSS_SELECTOR, "#result_list tbody tr"))
            print(f"Saved {out} ({rows} rows, {WIDTH}x{height})")
            return wrong
        finally:
            driver.quit()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "docs" / "admin-email-log.png")
    args = parser.parse_args()

    if not (HERE / "db.sqlite3").exists() and not os.environ.get("SES_DEMO_DATABASE"):
        raise SystemExit("No example_project/db.sqlite3: run bash example_project/demo.sh first.")
    for path in (CHROMIUM, CHROMEDRIVER):
        if not Path(path).exists():
            raise SystemExit(f"{path} is missing: apt-get install -y chromium chromium-driver")
    ensure_selenium()
    # Both paths are given: Selenium Manager has nothing to fetch.
    os.environ["SE_OFFLINE"] = "true"

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
        wrong = take(base_url, args.out)
    finally:
        server.terminate()
        server.wait(timeout=10)
    if wrong:
        for problem in wrong:
            print(f"screenshot.py: at {WIDTH} px, {problem}", file=sys.stderr)
        return 1
    print(f"At {WIDTH} px every column is in view and nothing scrolls sideways.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
