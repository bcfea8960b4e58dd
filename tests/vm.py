"""A cgroup v2 kernel booted over this machine's own file system, for the tests that must
run on cgroup v2 (tests/test_cgroup_v2.py).

This machine's cpu and memory controllers are bound to cgroup v1, and a cgroup version
is chosen when the kernel boots, so the v2 path can only be run in another kernel.
virtme-ng (`vng`, from PyPI) boots Debian's own kernel (linux-image-amd64, /boot/vmlinuz-*)
under qemu-system-x86 with the host's root file system shared read-only over 9p (Debian
12 has no virtiofsd), a writable throw-away overlay on /tmp, /etc, /var and the like, and
one host directory shared writable for what the guest hands back. Its init mounts cgroup2
alone at /sys/fs/cgroup, so the guest is cgroup v2 only, with every controller on offer.
It needs busybox (static) for the initramfs that loads the 9p modules.

Without KVM (this machine's /dev/kvm exists but qemu's KVM fails on its nested MSRs) qemu
emulates the CPU (TCG): compiled code runs about 20 times slower than here, and the boot
took 50 s, most of it udev loading drivers for emulated devices; without the slow ones
(_SKIP_MODULES) the script starts about 15 s after the kernel.
"""

from __future__ import annotations

import glob
import os
import shlex
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
KERNELS = "/boot/vmlinuz-*"
TOOLS = {
    "vng": "virtme-ng (pip install -e '.[test]')",
    "qemu-system-x86_64": "qemu-system-x86 (apt-get install qemu-system-x86)",
    "busybox": "busybox-static (apt-get install busybox-static)",
}


def kernel() -> str | None:
    """The newest installed kernel image (Debian's linux-image-amd64), if any."""
    found = sorted(glob.glob(KERNELS), key=os.path.getmtime)
    return found[-1] if found else None


def missing() -> str | None:
    """What the VM needs and this machine lacks, as one reason; None when all is there."""
    lacking = [why for tool, why in TOOLS.items() if shutil.which(tool) is None]
    if kernel() is None:
        lacking.append(f"a kernel image at {KERNELS} (apt-get install linux-image-amd64)")
    return "the cgroup v2 VM needs " + ", ".join(lacking) if lacking else None


@dataclass(frozen=True)
class Boot:
    """One boot's outcome: the guest script's exit status, the console, and seconds."""

    status: int | None  # the script's, None when the guest never ran it to the end
    console: str
    seconds: float


# The guest's root is the host's over 9p without a cache: every stat and open is a round
# trip through emulated virtio, and a Python start (pyenv's, with its site-packages) takes
# 18 s. So the host's root is shared a second time (--rodir), mounted again with
# cache=loose (the guest keeps what it looked up: 2 s), and the script runs chrooted there,
# with the guest's own /proc, /sys (its cgroup2), /dev, a fresh /tmp, and the shared
# directory at its host path. Nothing on the host changes under a boot, so loose is safe.
_CACHED = "/mnt"
_SETUP = """set -e
tag=$(awk '$2 == "{root}" {{print $1}}' /proc/self/mounts)
umount {root}
mount -t 9p -o ro,trans=virtio,version=9p2000.L,access=any,msize=512000,cache=loose "$tag" {root}
for d in proc sys dev; do mount --rbind /$d {root}/$d; done
mount -t tmpfs tmpfs {root}/tmp
mkdir -p {root}{shared}
mount --bind {shared} {root}{shared}
{repo_mount}
set +e
exec chroot {root} /bin/bash {body}
"""


# udev loads a driver for every emulated device; these few are the slow ones to load under
# emulation (kvm alone 14 s) and nothing here uses them: 25 s of a 50 s boot.
_SKIP_MODULES = "modprobe.blacklist=" + ",".join((
    "kvm", "kvm_amd", "kvm_intel", "irqbypass", "i6300esb", "iTCO_wdt", "iTCO_vendor_support",
    "ahci", "libahci", "sr_mod", "cdrom", "aesni_intel", "ghash_clmulni_intel", "crc32c_intel",
    "crc32_pclmul", "sha256_ssse3", "sha512_ssse3", "polyval_clmulni", "powernow_k8",
    "intel_rapl_msr", "intel_rapl_common", "pcspkr", "joydev", "serio_raw", "evdev",
))  # fmt: skip


def run(script: str, shared: Path, *, env: dict[str, str], timeout_s: float) -> Boot:
    """Boot the kernel with 2 CPUs and 1 GiB, run the bash `script` in the guest as root
    in the repository with `env` exported, and power off. `shared` is writable from both
    sides (the script's files land there); the script's status is written to it too."""
    image = kernel()
    assert image is not None, missing()
    shared.mkdir(parents=True, exist_ok=True)
    status = shared / "status"
    status.unlink(missing_ok=True)
    exports = "".join(f"export {k}={shlex.quote(v)}\n" for k, v in env.items())
    body = shared / "guest.sh"
    body.write_text(
        f"{exports}cd {shlex.quote(str(REPO))}\n"
        f"( {script}\n) </dev/null\n"
        f"echo $? > {shlex.quote(str(status))}\n"
    )
    # A checkout under /tmp (a CI clone) would be hidden by the guest's fresh /tmp: it is
    # shared on its own (read-only) and bound at its host path in the chroot too.
    hidden = REPO.is_relative_to("/tmp")
    repo = shlex.quote(str(REPO))
    repo_mount = f"mkdir -p {_CACHED}{repo}\nmount --bind {repo} {_CACHED}{repo}" if hidden else ""
    setup = shared / "setup.sh"
    setup.write_text(_SETUP.format(root=_CACHED, shared=shlex.quote(str(shared)),
                                   body=shlex.quote(str(body)), repo_mount=repo_mount))  # fmt: skip
    argv = ["vng", "--run", image, "--disable-kvm", "--cpus", "2", "--memory", "1G",
            f"--rwdir={shared}", f"--rodir={_CACHED}=/", "--append", _SKIP_MODULES,
            *([f"--rodir={REPO}={REPO}"] if hidden else []),
            "--exec", f"bash {shlex.quote(str(setup))}"]  # fmt: skip
    started = time.monotonic()
    try:
        proc = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              timeout=timeout_s, cwd=shared)  # fmt: skip
        console = proc.stdout + proc.stderr
    except subprocess.TimeoutExpired as exc:
        console = f"timed out after {timeout_s:g} s\n{exc.stdout or ''}{exc.stderr or ''}"
    seconds = time.monotonic() - started
    code = status.read_text().strip() if status.exists() else ""
    return Boot(int(code) if code.isdigit() else None, console, seconds)


def python() -> str:
    """The interpreter the guest runs the tests with: this one (its packages included);
    the guest's PATH finds Debian's own python3 first."""
    return sys.executable
