"""The observer page in a real browser: Debian's chromium, driven headless
by Playwright (the system browser; Playwright downloads nothing).

Usage: observer_browser.py URL TOKEN COMPONENT LABEL SCREENSHOT
(LABEL: what the component's processes call themselves, markup that the
page must show as text.)
Prints one JSON line: {"killed": <pid>, "rows_seen": <n>}.
Exits non-zero, with the reason on stderr, if a step fails.
"""
import json
import sys

from playwright.sync_api import expect, sync_playwright

url, token, component, label, screenshot = sys.argv[1:6]
TIMEOUT = 15_000

with sync_playwright() as p:
    browser = p.chromium.launch(
        executable_path="/usr/bin/chromium", args=["--no-sandbox", "--disable-gpu"]
    )
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    # An injected `onerror` would open a dialog.
    page.on("dialog", lambda d: (errors.append(f"dialog: {d.message}"), d.dismiss()))

    # Without the token: the sign-in form (a 401), never the page.
    response = page.goto(url)
    assert response.status == 401, f"expected 401 before sign-in, got {response.status}"
    page.fill("#token", token)
    page.click("#signin")

    # Live rows arrive (the table is filled by the API, then by SSE ticks).
    rows = page.locator("#rows tbody tr")
    expect(rows.first).to_be_visible(timeout=TIMEOUT)
    expect(page.locator("#status")).to_have_text("live", timeout=TIMEOUT)
    rows_seen = rows.count()

    # Filter by component: every row shown is of that component.
    page.select_option("#filter-component", component)
    page.wait_for_function(
        """(c) => {
            const rows = [...document.querySelectorAll('#rows tbody tr')];
            return rows.length > 0 && rows.every(r => r.dataset.component === c);
        }""",
        arg=component,
        timeout=TIMEOUT,
    )

    # Open a process, kill it, see it gone.
    first = page.locator("#rows tbody tr").first
    pid = int(first.get_attribute("data-pid"))
    first.click()
    expect(page.locator("#detail")).to_be_visible(timeout=TIMEOUT)
    expect(page.locator("#detail-pid")).to_have_text(str(pid), timeout=TIMEOUT)
    expect(page.locator("#detail-fields")).to_contain_text(component, timeout=TIMEOUT)
    # The guest's label is shown as text, and made no element.
    expect(page.locator("#detail-fields")).to_contain_text(label, timeout=TIMEOUT)
    assert page.locator("#detail-fields img").count() == 0, "the label became markup"
    page.click("#kill")
    page.wait_for_function(
        "(pid) => !document.querySelector(`#rows tbody tr[data-pid='${pid}']`)",
        arg=pid,
        timeout=TIMEOUT,
    )
    expect(page.locator("#detail-note")).to_contain_text("gone", timeout=TIMEOUT)
    page.screenshot(path=screenshot, full_page=True)
    browser.close()
    if errors:
        sys.exit(f"errors in the page: {errors}")
    print(json.dumps({"killed": pid, "rows_seen": rows_seen}))
