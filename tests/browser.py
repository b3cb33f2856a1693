"""Headless Chromium for tests: install Debian's package when missing, render a page.

Console messages reach Chromium's stderr log (`--enable-logging=stderr`) as
`INFO:CONSOLE` lines whatever their level, so a page that should print nothing
(the report has no JavaScript) is checked for any such line at all.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--enable-logging=stderr", "--v=0",
]
INSTALL_TIMEOUT_S = 900


class ChromiumUnavailable(RuntimeError):
    pass


def ensure_chromium() -> Path:
    """/usr/bin/chromium, installed with apt-get when missing (CI runs as root)."""
    if CHROMIUM.exists():
        return CHROMIUM
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise ChromiumUnavailable(f"{CHROMIUM} is missing and apt-get needs root: run `make chromium` as root")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for command in (
        ["apt-get", "update"],
        ["apt-get", "install", "-y", "-o", "DPkg::Lock::Timeout=600", "chromium"],
    ):
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=INSTALL_TIMEOUT_S)
        if done.returncode != 0:
            raise ChromiumUnavailable(f"{' '.join(command)} failed: {done.stderr.strip()[-500:]}")
    if not CHROMIUM.exists():
        raise ChromiumUnavailable(f"apt-get installed chromium but {CHROMIUM} is still missing")
    return CHROMIUM


@dataclass
class Rendered:
    stdout: str
    stderr: str

    @property
    def console(self) -> list[str]:
        """Every console message the page produced (log, warning, error, uncaught exception)."""
        return [line for line in self.stderr.splitlines() if ":CONSOLE" in line]


def render(page: Path, profile_dir: Path, *extra: str, timeout_s: float = 120) -> Rendered:
    """Open a local file in headless Chromium with its own profile; `extra` picks the output."""
    profile_dir.mkdir(parents=True, exist_ok=True)
    command = [str(ensure_chromium()), *FLAGS, f"--user-data-dir={profile_dir}", *extra, page.resolve().as_uri()]
    # /usr/bin/chromium is a wrapper script: its own session lets a timeout end every process.
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               start_new_session=True)
    try:
        stdout, stderr = process.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        raise AssertionError(f"chromium did not finish within {timeout_s:g}s") from None
    if process.returncode != 0:
        raise AssertionError(f"chromium exited {process.returncode}: {stderr.strip()[-800:]}")
    return Rendered(stdout, stderr)
