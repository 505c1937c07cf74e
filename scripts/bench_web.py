#!/usr/bin/env python3
"""Benchmark: the web page's time from pressing play to the first sound, and the server's
memory, measured in headless Chromium (Debian's, through chromium-driver) against a real
``selfkind serve`` with an empty cache folder of its own.

    .venv/bin/python scripts/bench_web.py [--practice self-compassion-break]

Three presses of play, each timed in the page (click -> the audio element's ``playing``):
nothing cached (speech synthesized, then the session rendered), the clips cached but the
session at a new length (rendered only), and the session itself cached. The server's resident
memory (VmRSS) is read at rest and sampled every 50 ms while it renders (VmHWM, the peak).
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path


def rss_mb(pid: int, field: str = "VmRSS") -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(rf"{field}:\s+(\d+)", status).group(1)) / 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--practice", default="self-compassion-break")
    args = parser.parse_args()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    home = Path(tempfile.mkdtemp(prefix="selfkind-bench-web-"))
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "selfkind", "serve", "--port", str(port)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "SELFKIND_HOME": str(home)},
    )
    address = server.stdout.readline().split(" is at ")[1].split()[0]
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium")
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--autoplay-policy=no-user-gesture-required",
    ):
        options.add_argument(argument)
    driver = webdriver.Chrome(options=options, service=Service(shutil.which("chromedriver")))
    peak = {"rendering_mb": 0.0}
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(0.05):
            peak["rendering_mb"] = max(peak["rendering_mb"], rss_mb(server.pid))

    rows = []
    try:
        driver.get(address)
        time.sleep(1.0)
        at_rest_mb = rss_mb(server.pid)
        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        page = f"http://127.0.0.1:{port}/practice/{args.practice}"
        values = None
        for label, choice in (
            ("nothing cached", 0),
            ("clips cached, new length", 1),
            ("session cached", 1),
        ):
            driver.get(page)
            if values is None:
                values = [
                    o.get_attribute("value")
                    for o in driver.find_elements(By.CSS_SELECTOR, "#duration option")
                ]
            value = values[min(choice, len(values) - 1)]
            driver.find_element(By.CSS_SELECTOR, f"#duration option[value='{value}']").click()
            driver.find_element(By.ID, "play").click()
            first_ms = WebDriverWait(driver, 600, 0.05).until(
                lambda d: d.execute_script("return window.selfkindTimes.firstSound")
            )
            rows.append((label, float(value), first_ms / 1000))
        stop.set()
        at_end_mb = rss_mb(server.pid)
        peak_mb = max(peak["rendering_mb"], rss_mb(server.pid, "VmHWM"))
    finally:
        driver.quit()
        server.terminate()
        server.wait(10)
        shutil.rmtree(home, ignore_errors=True)
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores")
    print(f"{'press play with':28} {'length':>8} {'to first sound':>15}")
    for label, length_s, seconds in rows:
        print(f"{label:28} {length_s / 60:>6.1f}m {seconds:>13.2f} s")
    print(f"server memory: {at_rest_mb:.0f} MB at rest, {peak_mb:.0f} MB peak while rendering,"
          f" {at_end_mb:.0f} MB after")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
