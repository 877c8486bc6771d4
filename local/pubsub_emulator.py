"""Where Google's Pub/Sub emulator is installed, or the exact command that installs it.

The local stack runs Pub/Sub on the emulator the Google Cloud CLI ships (a Java server, the
`pubsub-emulator` component). Standard library only: `make demo` and `make test` run this file with
the system Python before they build the virtualenv (`python3 -m local.pubsub_emulator`), so a machine
without the emulator fails at once, naming the command that installs it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

LAUNCHER = "platform/pubsub-emulator/bin/cloud-pubsub-emulator"  # under the Cloud CLI's root
INSTALL = (
    "\n    gcloud components install pubsub-emulator\n"
    "or, where the Google Cloud CLI came from Google's apt repository:\n"
    "    sudo apt-get install google-cloud-cli-pubsub-emulator"
)


class EmulatorMissing(RuntimeError):
    """The emulator (or the Java it runs on) is not installed; the message says how to install it."""


def sdk_root() -> Path | None:
    """The Cloud CLI's installation root: where `gcloud` really lives (`<root>/bin/gcloud`, also for
    the Debian package's /usr/bin link), else what `gcloud info` says (a wrapper script)."""
    gcloud = shutil.which("gcloud")
    if not gcloud:
        return None
    root = Path(os.path.realpath(gcloud)).parent.parent
    if (root / LAUNCHER).exists():
        return root
    try:
        done = subprocess.run([gcloud, "info", "--format=value(installation.sdk_root)"],
                              capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return None
    return Path(done.stdout.strip()) if done.returncode == 0 and done.stdout.strip() else None


def launcher() -> Path:
    """The emulator's launcher script (it `exec`s Java: its process is the server itself)."""
    root = sdk_root()
    if root is None:
        raise EmulatorMissing(
            "The local stack runs Pub/Sub on Google's emulator, part of the Google Cloud CLI, and no "
            "`gcloud` is on PATH. Install the CLI (https://cloud.google.com/sdk/docs/install), then the "
            f"emulator:{INSTALL}")
    script = root / LAUNCHER
    if not script.exists():
        raise EmulatorMissing(
            f"Google's Pub/Sub emulator is not installed in the Google Cloud CLI at {root}; the local "
            f"stack (make demo, make test, --local) runs Pub/Sub on it. Install it:{INSTALL}")
    java_home = os.environ.get("JAVA_HOME")
    if not (shutil.which("java") or (java_home and (Path(java_home) / "bin/java").exists())):
        raise EmulatorMissing(
            "Google's Pub/Sub emulator runs on Java (11 or newer), and no `java` is on PATH: install "
            "one, e.g. `sudo apt-get install openjdk-17-jre-headless`.")
    return script


def main() -> int:
    try:
        launcher()
    except EmulatorMissing as exc:
        print(f"ERROR: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
