#!/usr/bin/env python3
"""The dashboard in a real browser: headless Chromium driven through WebDriver (selenium, Debian's chromium-driver).

Starts `handoff serve --demo` on a private cluster in a fresh HANDOFF_HOME and a free loopback port, then walks the
demo onboarding to its end as its three roles would, each signed in with the token the server printed:

- the partner integration manager's inbox shows the demo go-live's contract, due a day ago, as overdue;
- the customer admin signs in, sees the demo task in the inbox, claims it and completes it; a second browser,
  left on the inbox without reloading, shows the next task as soon as it opens;
- the UPN form refuses a bad UPN, with the error beside the field and what was typed kept, then takes a good one;
- the partner integration manager sees only their role's work, and cannot act on the customer admin's task;
- the solutions engineer finds the earlier answers filled in as defaults and finishes the onboarding;
- the overview and the onboarding page show it completed, with its timeline and its flow drawn.

Screenshots of the overview, the inbox, a task page and an onboarding page go to --screenshots (docs/ keeps
current ones). With --measure N it then times N completions in one browser until the next task shows in the
other, and prints the median.

Exit status 0 when every check passed; each failed check is printed.
"""
import argparse
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HANDOFF = os.path.join(ROOT, ".build", "debug", "handoff")


class Failure(Exception):
    pass


def check(condition, message):
    if not condition:
        raise Failure(message)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """`handoff serve --demo` in its own HANDOFF_HOME, stopped (and its cluster with it) by `stop`."""

    def __init__(self):
        self.home = tempfile.mkdtemp(prefix="handoff-browser-")
        os.chmod(self.home, 0o755)  # the postgres account runs the cluster in it when the tests run as root
        self.port = free_port()
        self.env = dict(os.environ, HANDOFF_HOME=self.home, HANDOFF_PORT=str(self.port), HANDOFF_HOST="127.0.0.1")
        self.env.pop("DATABASE_URL", None)
        self.env["HANDOFF_WORKFLOWS"] = os.path.join(ROOT, "workflows")
        self.env["HANDOFF_MIGRATIONS"] = os.path.join(ROOT, "db", "migrations")
        self.log = open(os.path.join(self.home, "serve.log"), "w+")
        self.process = subprocess.Popen(
            [HANDOFF, "serve", "--demo"], env=self.env, cwd=ROOT, stdout=subprocess.PIPE, stderr=self.log, text=True)
        self.tokens = {}
        self.base = f"http://127.0.0.1:{self.port}"
        deadline = time.time() + 120
        lines = []
        while time.time() < deadline:
            line = self.process.stdout.readline()
            if not line:
                break
            lines.append(line)
            match = re.match(r"^  (\w+)\s+(\S+)\s+(hnd_\S+)$", line.rstrip("\n"))
            if match:
                self.tokens[match.group(1)] = match.group(3)
            if line.startswith("Ctrl-C stops the server."):
                break
        self.printed = "".join(lines)
        check(set(self.tokens) >= {"olivia", "alice", "pat", "sam"}, "serve --demo printed no tokens:\n" + self.printed)
        check(f"{self.base}/dashboard" in self.printed, "serve --demo does not print the dashboard's URL")

    def api(self, method, path, token, body=None):
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.base + path, data=data, method=method)
        request.add_header("Authorization", "Bearer " + token)
        if data is not None:
            request.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read() or b"{}")

    def stop(self):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        subprocess.run([HANDOFF, "dev", "stop"], env=self.env, cwd=ROOT, capture_output=True, timeout=60)
        self.log.close()
        shutil.rmtree(self.home, ignore_errors=True)


def browser():
    options = Options()
    for argument in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1100",
                     "--disable-gpu", "--lang=en-US"]:
        options.add_argument(argument)
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium:
        options.binary_location = chromium
    driver_path = shutil.which("chromedriver") or "/usr/bin/chromedriver"
    return webdriver.Chrome(service=Service(driver_path), options=options)


class Person:
    """One browser, signed in as one of the demo's people."""

    def __init__(self, server, name):
        self.server = server
        self.driver = browser()
        self.wait = WebDriverWait(self.driver, 15)
        self.name = None
        if name:
            self.sign_in(name)

    def go(self, path):
        self.driver.get(self.server.base + path)

    def sign_in(self, name):
        self.go("/dashboard/inbox")
        check("/dashboard/sign-in" in self.driver.current_url, "a signed-out visit to the inbox did not go to sign in")
        self.driver.find_element(By.ID, "token").send_keys(self.server.tokens[name])
        self.driver.find_element(By.ID, "sign-in").click()
        # The address changes when the navigation commits, before the new page is there: wait for the page too.
        self.wait.until(lambda d: d.current_url.endswith("/dashboard/inbox") and d.find_elements(By.ID, "signed-in-user"))
        check(self.text("signed-in-user") == name, f"the page says {self.text('signed-in-user')!r} is signed in, not {name}")
        self.name = name

    def sign_out(self):
        self.driver.find_element(By.CSS_SELECTOR, "form[action='/dashboard/sign-out'] button").click()
        self.wait.until(lambda d: "/dashboard/sign-in" in d.current_url)
        self.name = None

    def text(self, element_id):
        return self.driver.find_element(By.ID, element_id).text

    def has(self, selector):
        return len(self.driver.find_elements(By.CSS_SELECTOR, selector)) > 0

    def claim_from_inbox(self, task):
        self.go("/dashboard/inbox")
        self.driver.find_element(By.CSS_SELECTOR, f"#open-tasks tr[data-task='{task}'] button.claim").click()
        self.wait.until(lambda d: d.current_url.endswith(f"/dashboard/tasks/{task}"))
        check(self.text("task-state") == "claimed", f"{task} is {self.text('task-state')} after the claim")

    def fill(self, outputs=None, ticks=None):
        for name, value in (outputs or {}).items():
            field = self.driver.find_element(By.ID, f"output-{name}")
            field.clear()
            field.send_keys(value)
        for box in self.driver.find_elements(By.CSS_SELECTOR, "#complete-form input[type=checkbox]"):
            if (ticks is None or box.get_attribute("value") in ticks) and not box.is_selected():
                box.click()

    def complete(self, task, outputs=None, ticks=None):
        self.fill(outputs, ticks)
        self.driver.find_element(By.ID, "complete").click()
        self.wait.until(lambda d: "/dashboard/inbox?done=" in d.current_url)
        check(task in self.text("flash"), f"the inbox does not say {task} was completed")

    def screenshot(self, folder, name):
        if folder:
            os.makedirs(folder, exist_ok=True)
            self.driver.save_screenshot(os.path.join(folder, f"dashboard-{name}.png"))

    def quit(self):
        self.driver.quit()


def wait_for_row(person, task, timeout=10):
    """Waits, without reloading, until `task` shows in the inbox's open tasks; fails if the page reloaded."""
    marker = person.driver.execute_script("return window.__handoffMarker")
    WebDriverWait(person.driver, timeout).until(
        lambda d: d.find_elements(By.CSS_SELECTOR, f"#open-tasks tr[data-task='{task}']"))
    check(person.driver.execute_script("return window.__handoffMarker") == marker,
          "the watching inbox reloaded instead of updating in place")


def walk_the_demo(server, screenshots):
    alice = Person(server, "alice")
    watcher = Person(server, "alice")
    try:
        # The inbox shows the demo's first task; the watching browser marks its page to prove it is never reloaded.
        alice.go("/dashboard/inbox")
        check(alice.has("#open-tasks tr[data-task='demo-t1']"), "the inbox does not show demo-t1")
        check("customer_admin" in alice.text("signed-in-roles"), "the page does not show the signed-in roles")
        alice.screenshot(screenshots, "inbox")
        watcher.go("/dashboard/inbox")
        watcher.driver.execute_script("window.__handoffMarker = Math.random()")
        WebDriverWait(watcher.driver, 10).until(lambda d: d.find_element(By.ID, "live-status").text == "live")

        alice.claim_from_inbox("demo-t1")
        check(alice.has("#instructions"), "the task page shows no instructions")
        alice.complete("demo-t1", {"client_id": "C-1001"})
        wait_for_row(watcher, "demo-t2")

        # The consent: every step of the guide ticked.
        alice.claim_from_inbox("demo-t2")
        alice.complete("demo-t2")
        wait_for_row(watcher, "demo-t3")

        # The UPN: a bad one is refused beside its field, with what was typed kept; a good one is taken.
        alice.claim_from_inbox("demo-t3")
        alice.fill({"upn": "not-an-upn"})
        alice.driver.find_element(By.ID, "complete").click()
        alice.wait.until(lambda d: d.find_elements(By.ID, "output-upn-problem"))
        problem = alice.text("output-upn-problem")
        check("name@domain" in problem, f"the UPN's error says {problem!r}")
        check(alice.driver.find_element(By.ID, "output-upn").get_attribute("value") == "not-an-upn",
              "the refused UPN was not kept in its field")
        check(alice.has(".field.invalid #output-upn"), "the UPN field is not marked invalid")

        # Someone of another role sees the task but may not act on it.
        pat = Person(server, "pat")
        try:
            pat.go("/dashboard/tasks/demo-t3")
            check(not pat.has("#claim") and not pat.has("#release") and not pat.has("#complete-form"),
                  "the partner integration manager is offered an action on the customer admin's task")
            pat.go("/dashboard/onboardings/demo")
            check(pat.has("#flow svg .current"), "the flow does not mark the step the onboarding waits in")
            pat.screenshot(screenshots, "onboarding")
            pat.go("/dashboard/inbox")
            rows = pat.driver.find_elements(By.CSS_SELECTOR, "#open-tasks tr[data-task]")
            listed = [row.get_attribute("data-task") for row in rows]
            check(listed == ["demo-go-live-t1"],
                  f"the partner integration manager's inbox lists {listed}, not only their go-live task")
            check("(overdue)" in rows[0].text, f"the go-live contract, due yesterday, is not marked overdue: {rows[0].text!r}")
            pat.go("/dashboard")
            overdue = pat.driver.find_element(By.CSS_SELECTOR, "td.num.overdue")
            check(overdue.text == "1", f"the overview counts {overdue.text!r} overdue tasks, not 1")
            pat.go("/dashboard/inbox")
            pat.driver.execute_script("window.__handoffMarker = Math.random()")

            alice.complete("demo-t3", {"upn": "mailer@contoso.com"})

            # Handoff tells the partner integration manager (a notification to their role), and their inbox shows
            # their task without a reload.
            wait_for_row(pat, "demo-t4")
            pat.claim_from_inbox("demo-t4")
            pat.complete("demo-t4")
        finally:
            pat.quit()

        # The solutions engineer: earlier answers are the defaults.
        alice.sign_out()
        alice.sign_in("sam")
        alice.claim_from_inbox("demo-t5")
        check(alice.has("#instructions table"), "the Mail.Send instructions' table is not rendered as a table")
        alice.screenshot(screenshots, "task")
        check(alice.driver.find_element(By.ID, "output-upn").get_attribute("value") == "mailer@contoso.com",
              "the UPN from the earlier answer is not filled in")
        check(alice.driver.find_element(By.ID, "output-client_id").get_attribute("value") == "C-1001",
              "the client id from the earlier answer is not filled in")
        alice.complete("demo-t5")

        alice.go("/dashboard")
        row = alice.driver.find_element(By.CSS_SELECTOR, "#overview-latest tr[data-onboarding='demo']")
        check("completed" in row.text, f"the overview shows the demo as {row.text!r}")
        alice.screenshot(screenshots, "overview")
        alice.go("/dashboard/onboardings/demo")
        check(alice.text("onboarding-state") == "completed", "the onboarding page does not say completed")
        check(alice.has("#flow svg"), "the onboarding page draws no flow")
        check("Mail_Send_UPN" in alice.text("variables"), "the onboarding page does not show the recorded variables")
        check(len(alice.driver.find_elements(By.CSS_SELECTOR, "#timeline li")) >= 10, "the timeline is short")
    finally:
        alice.quit()
        watcher.quit()


def measure(server, rounds):
    """Completion in one browser until the next task shows in another's inbox, `rounds` times: milliseconds."""
    admin = server.tokens["olivia"]
    alice_token = server.tokens["alice"]
    acting = Person(server, "alice")
    watching = Person(server, "alice")
    samples = []
    try:
        watching.go("/dashboard/inbox")
        WebDriverWait(watching.driver, 10).until(lambda d: d.find_element(By.ID, "live-status").text == "live")
        for index in range(rounds):
            onboarding = f"latency-{index}"
            server.api("POST", "/onboardings", admin,
                       {"workflow": "mail-send", "id": onboarding, "inputs": {"company": f"Company {index}", "path": "standard"}})
            server.api("POST", f"/tasks/{onboarding}-t1/claim", alice_token, {})
            acting.go(f"/dashboard/tasks/{onboarding}-t1")
            acting.fill({"client_id": f"C-{index}"})
            # The watcher notes when the next task's row appears; the actor notes when it sends the form.
            watching.driver.execute_script(
                """
                const task = arguments[0];
                window.__seenAt = null;
                const observer = new MutationObserver(() => {
                  if (document.querySelector(`#open-tasks tr[data-task="${task}"]`)) {
                    window.__seenAt = performance.timeOrigin + performance.now();
                    observer.disconnect();
                  }
                });
                observer.observe(document.body, {childList: true, subtree: true});
                """, f"{onboarding}-t2")
            sent = acting.driver.execute_script(
                "const t = performance.timeOrigin + performance.now();"
                "document.getElementById('complete-form').submit(); return t;")
            WebDriverWait(watching.driver, 10, poll_frequency=0.02).until(
                lambda d: d.execute_script("return window.__seenAt"))
            samples.append(watching.driver.execute_script("return window.__seenAt") - sent)
    finally:
        acting.quit()
        watching.quit()
    return samples


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--screenshots", help="folder for the screenshots (docs/ keeps current ones)")
    parser.add_argument("--measure", type=int, default=0, help="also time this many completions (median printed)")
    arguments = parser.parse_args()
    server = Server()
    try:
        walk_the_demo(server, arguments.screenshots)
        print("dashboard browser test: the demo onboarding was finished in Chromium by its three roles")
        if arguments.measure:
            samples = measure(server, arguments.measure)
            print(f"completion to next task in another browser, {len(samples)} runs: "
                  f"median {statistics.median(samples):.0f} ms, min {min(samples):.0f} ms, max {max(samples):.0f} ms")
    except Failure as failure:
        print(f"dashboard browser test FAILED: {failure}", file=sys.stderr)
        server.log.flush()
        server.log.seek(0)
        sys.stderr.write(server.log.read()[-4000:])
        return 1
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
