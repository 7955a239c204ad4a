"""Local server processes (the standalone Spark cluster, the demo's PostgreSQL): pids and ports.

Kept free of pyspark, so that managing a server does not load Spark.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import sys


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


def descendants(pid: int) -> list[int]:
    """``pid`` and every process it started, at any depth (read from ``/proc``)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as process_stat:
                parent = int(process_stat.read().rsplit(") ", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(parent, []).append(int(entry))
    found, pending = [], [pid]
    while pending:
        current = pending.pop()
        found.append(current)
        pending.extend(children.get(current, []))
    return found


def _address(hex_address: str) -> str:
    """An address of ``/proc/net/tcp{,6}`` (32-bit words in host order) as text."""
    raw = bytes.fromhex(hex_address)
    if sys.byteorder == "big":
        return str(ipaddress.ip_address(raw))
    ordered = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
    return str(ipaddress.ip_address(ordered))


def listening_sockets(pids: list[int]) -> list[tuple[int, str, int]]:
    """The TCP sockets the processes ``pids`` listen on: ``(pid, address, port)``.

    Read from ``/proc`` (Linux): each process's socket inodes, matched with the LISTEN rows of
    ``/proc/net/tcp`` and ``tcp6``. An IPv4 address mapped into IPv6 (``::ffff:127.0.0.1``) is
    given as the IPv4 address.
    """
    owners: dict[str, int] = {}
    for pid in pids:
        try:
            descriptors = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for descriptor in descriptors:
            try:
                target = os.readlink(f"/proc/{pid}/fd/{descriptor}")
            except OSError:
                continue
            if target.startswith("socket:["):
                owners[target[8:-1]] = pid
    listening = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as rows:
                lines = rows.read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state != "0A" or inode not in owners:  # 0A: LISTEN
                continue
            host, port = local.rsplit(":", 1)
            address = ipaddress.ip_address(_address(host))
            if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
                address = address.ipv4_mapped
            listening.append((owners[inode], str(address), int(port, 16)))
    return sorted(listening)


def is_loopback(address: str) -> bool:
    """True for 127.0.0.0/8 and ::1."""
    return ipaddress.ip_address(address).is_loopback
