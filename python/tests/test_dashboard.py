"""The approvals dashboard in a real headless Chromium (Debian's chromium and chromedriver, driven by
Selenium): an agent's decide call waits, a reviewer signs in, approves, and the waiting call returns
allow. Screenshots are kept in test-artifacts/."""

import os
import shutil
import threading
from pathlib import Path

from countersign import Countersign
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ready
from selenium.webdriver.support.ui import Select, WebDriverWait

from conftest import TOKENS

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


def browser():
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    assert chromium and driver, "install Debian's chromium and chromium-driver (.ci/run does)"
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1280,1000"):
        options.add_argument(argument)
    return webdriver.Chrome(service=Service(driver), options=options)


def test_a_reviewer_approves_in_the_dashboard_and_the_waiting_agent_resumes(server):
    ARTIFACTS.mkdir(exist_ok=True)
    cs = Countersign(server.url)
    hostile = "git push origin main # <img src=x onerror=alert(1)> \x1b[31mred\x1b[0m"
    pending = cs.decide({"actor": "coding-agent", "surface": "shell", "tool": "shell.exec", "intent": "execute",
                         "target": "origin/main", "args": {"command": hostile}, "session_id": "ui"})
    assert pending["status"] == "pending"
    result = {}
    waiter = threading.Thread(target=lambda: result.update(cs.wait(pending["decision_id"], timeout=90)))
    waiter.start()

    driver = browser()
    try:
        # The page re-renders the inbox and the receipts every 1.5 s: an element found before a refresh goes
        # stale, so every step looks it up again.
        wait = WebDriverWait(driver, 20, ignored_exceptions=(StaleElementReferenceException,))
        driver.get(server.url + "/")
        driver.find_element(By.ID, "token").send_keys(TOKENS["alice"])
        driver.find_element(By.ID, "signin-button").click()
        selector = (By.CSS_SELECTOR, f".approval[data-id='{pending['decision_id']}']")
        wait.until(ready.presence_of_element_located(selector))

        def card():
            return driver.find_element(*selector)

        preview = wait.until(lambda d: card().find_element(By.TAG_NAME, "pre").text)
        assert "git push origin main" in preview and "<img src=x onerror=alert(1)>" in preview  # shown, not rendered
        assert "\\u001b[31m" in preview and "\x1b" not in preview  # the escape is shown, not interpreted
        assert wait.until(lambda d: card().find_elements(By.TAG_NAME, "img") == [])
        assert "requested with the token of: unauthenticated" in wait.until(lambda d: card().text)
        wait.until(ready.text_to_be_present_in_element((By.ID, "verify-status"), "verified"))
        assert "Alice Martin" in driver.find_element(By.ID, "who").text
        # While the note has the focus the inbox is not re-rendered.
        wait.until(lambda d: card().find_element(By.CLASS_NAME, "note").send_keys("approved in the browser") or True)
        driver.save_screenshot(str(ARTIFACTS / "dashboard-pending.png"))
        card().find_element(By.CLASS_NAME, "approve").click()
        waiter.join(timeout=30)
        assert result.get("status") == "allowed" and result.get("decision") == "ask->approved"
        assert result["approvals"][0]["note"] == "approved in the browser"
        trace = (By.XPATH, f"//td[@class='trace' and text()='{pending['decision_id']}']")
        wait.until(ready.element_to_be_clickable(trace))
        wait.until(lambda d: d.find_element(*trace).click() or True)
        wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#trace-steps li")) >= 2)
        steps = [li.text for li in driver.find_elements(By.CSS_SELECTOR, "#trace-steps li")]
        # Filters and search narrow the receipts table.
        Select(driver.find_element(By.ID, "filter-status")).select_by_visible_text("approve")
        wait.until(lambda d: [r.text for r in d.find_elements(By.CSS_SELECTOR, "#receipts tbody tr")] != []
                   and all("approval" in r.text for r in d.find_elements(By.CSS_SELECTOR, "#receipts tbody tr")))
        Select(driver.find_element(By.ID, "filter-status")).select_by_index(0)
        driver.find_element(By.ID, "filter-text").send_keys("no-such-text-anywhere")
        wait.until(lambda d: not d.find_elements(By.CSS_SELECTOR, "#receipts tbody tr"))
        driver.find_element(By.ID, "filter-text").clear()
        assert any("approval approve" in step for step in steps)
        assert any("decision authorized ask->approved" in step for step in steps)
        driver.save_screenshot(str(ARTIFACTS / "dashboard-approved.png"))
    finally:
        driver.quit()
    assert (ARTIFACTS / "dashboard-approved.png").stat().st_size > 10_000
