"""Debian's Chromium, launched as ENGINEERING.md says (no sandbox as root, no background calls
to Google that this machine's closed network refuses)."""

import shutil

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
