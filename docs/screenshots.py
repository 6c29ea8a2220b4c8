"""Screenshots of an HTML report in headless Chromium at 1280 and 390 CSS pixels (the PNGs under docs/).

    python docs/screenshots.py REPORT.html OUT_FOLDER [--height 2400]

Needs selenium and Debian's chromium + chromium-driver. The viewport is emulated over the DevTools protocol
(a headless window cannot be narrower than 500 px); each shot is the top ``--height`` pixels of the page.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.service import Service

WIDTHS = (1280, 390)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("report", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--height", type=int, default=2400)
    args = parser.parse_args()
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium")
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(shutil.which("chromedriver")))
    try:
        args.out.mkdir(parents=True, exist_ok=True)
        for width in WIDTHS:
            driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
                "width": width, "height": args.height, "deviceScaleFactor": 1, "mobile": width < 600})
            driver.get(args.report.resolve().as_uri())
            path = args.out / f"report-{width}.png"
            driver.save_screenshot(str(path))
            print(f"wrote {path}")
    finally:
        driver.quit()


if __name__ == "__main__":
    main()
