"""What a benchmark ran on, recorded beside its figures."""

from __future__ import annotations

import os
import platform
import subprocess


def machine() -> dict:
    """Cores, memory, Python, Java and platform of this machine."""
    java = subprocess.run(["java", "-version"], capture_output=True, text=True).stderr.splitlines()[0]
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return {
        "cpus": os.cpu_count(),
        "memory_gib": round(memory, 1),
        "python": platform.python_version(),
        "java": java,
        "platform": platform.platform(),
    }
