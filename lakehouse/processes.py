"""Local server processes (the standalone Spark cluster, the demo's PostgreSQL): pids and ports.

Kept free of pyspark, so that managing a server does not load Spark.
"""

from __future__ import annotations

import os
import socket


def port_open(host: str, port: int) -> bool:
    """True when something accepts TCP connections on ``host:port``."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.settimeout(0.5)
        return probe.connect_ex((host, port)) == 0


def alive(pid: int) -> bool:
    """True while the process runs; a zombie (exited, not yet reaped by its parent) counts as stopped."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as process_stat:
            return process_stat.read().split(") ", 1)[1][:1] != "Z"
    except OSError:
        return True


def command_line(pid: int) -> str:
    """The process's command line, so that a pid reused by another program is never signalled."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
            return cmdline.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""
