"""A real Spark standalone cluster on this machine: one master and one worker, no Docker.

The pip ``pyspark`` package has no ``sbin/start-master.sh``; the master and worker start
with ``bin/spark-class``. Their pids and logs live in ``cluster.state_dir`` so that ``stop``
kills exactly the processes ``start`` made (and nothing that reused their pid).

Everything listens on ``cluster.host`` (127.0.0.1): the RPC ports through ``--host``, the web
UIs and the executors the worker launches through ``SPARK_LOCAL_IP``. With
``cluster.authenticate`` the daemons require Spark's RPC authentication: the first start writes
a random secret to ``<state_dir>/auth/secret`` and a properties file for the daemons beside it
(both readable by this user only), so the secret is on no command line and in no log; drivers of
the environment read it from there (:func:`cluster_secret`).
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from lakehouse.cluster.secret import DAEMON_PROPERTIES, SECRET_FILE, cluster_secret, write_private
from lakehouse.config.platform import ClusterSettings
from lakehouse.errors import ClusterError
from lakehouse.processes import alive, command_line, port_open
from lakehouse.spark.jars import spark_home

MASTER_CLASS = "org.apache.spark.deploy.master.Master"
WORKER_CLASS = "org.apache.spark.deploy.worker.Worker"


@dataclass(frozen=True)
class ClusterProcess:
    """One daemon of the cluster and whether it runs."""

    role: str
    pid: int | None
    running: bool
    log_file: Path


class StandaloneCluster:
    """Start, inspect and stop a master and a worker described by ``cluster:`` settings.

    Args:
        settings: ports, worker cores and memory, start timeout.
        state_dir: folder for pid files, logs and the worker's work dir.
    """

    def __init__(self, settings: ClusterSettings, state_dir: Path):
        self.settings = settings
        self.state_dir = Path(state_dir)

    @property
    def master_url(self) -> str:
        """The URL that ``spark.master`` takes to submit to this cluster."""
        return f"spark://{self.settings.host}:{self.settings.master_port}"

    @property
    def master_webui(self) -> str:
        return f"http://{self.settings.host}:{self.settings.master_webui_port}"

    def start(self) -> None:
        """Start the master, then a worker, and wait until the worker has registered.

        Does nothing for a daemon that already runs, so it can be called again safely.

        Raises:
            ClusterError: a port is taken by another program, a daemon exits, or the worker
                does not register within ``start_timeout_seconds`` (the log tail is included).
        """
        (self.state_dir / "logs").mkdir(parents=True, exist_ok=True)
        (self.state_dir / "work").mkdir(parents=True, exist_ok=True)
        if self.settings.authenticate:
            self._ensure_secret()
        already_running = {process.role for process in self.status() if process.running}
        try:
            self._start_daemons()
        except ClusterError:
            # leave nothing half-started behind, but never stop what ran before this call
            self.stop(roles=[role for role in ("worker", "master") if role not in already_running])
            raise

    def _ensure_secret(self) -> None:
        """Generate the secret on the first start and write the daemons' properties file."""
        secret = cluster_secret(self.state_dir)
        if secret is None:
            secret = secrets.token_hex(32)
            write_private(self.state_dir / SECRET_FILE, secret + "\n")
        write_private(
            self.state_dir / DAEMON_PROPERTIES,
            f"spark.authenticate true\nspark.authenticate.secret {secret}\n",
        )

    def _start_daemons(self) -> None:
        settings = self.settings
        if not self._process("master").running:
            self._refuse_taken_port(settings.master_port, "cluster.master_port")
            self._refuse_taken_port(settings.master_webui_port, "cluster.master_webui_port")
            master = self._spawn(
                "master",
                [
                    MASTER_CLASS,
                    "--host",
                    settings.host,
                    "--port",
                    str(settings.master_port),
                    "--webui-port",
                    str(settings.master_webui_port),
                ],
            )
            self._wait(
                lambda: port_open(settings.host, settings.master_port),
                master,
                "master",
                "accept connections",
            )
        worker = None
        if not self._process("worker").running:
            self._refuse_taken_port(settings.worker_webui_port, "cluster.worker_webui_port")
            worker = self._spawn(
                "worker",
                [
                    WORKER_CLASS,
                    self.master_url,
                    "--host",
                    settings.host,
                    "--cores",
                    str(settings.worker_cores),
                    "--memory",
                    settings.worker_memory,
                    "--webui-port",
                    str(settings.worker_webui_port),
                    "--work-dir",
                    str((self.state_dir / "work").resolve()),
                ],
            )
        self._wait(lambda: self.alive_workers() >= 1, worker, "worker", "register with the master")

    def stop(self, roles: list[str] | None = None) -> list[ClusterProcess]:
        """Stop the worker, then the master (SIGTERM, then SIGKILL after 20 s).

        Args:
            roles: which daemons to stop; both by default.

        Returns:
            The daemons that were running and are now stopped.
        """
        stopped = []
        for role in roles if roles is not None else ("worker", "master"):
            process = self._process(role)
            if process.running:
                os.kill(process.pid, signal.SIGTERM)
                deadline = time.monotonic() + 20
                while alive(process.pid) and time.monotonic() < deadline:
                    time.sleep(0.2)
                if alive(process.pid):
                    os.kill(process.pid, signal.SIGKILL)
                _reap(process.pid)
                stopped.append(process)
            self._pid_file(role).unlink(missing_ok=True)
        return stopped

    def status(self) -> list[ClusterProcess]:
        """The master and the worker, running or not."""
        return [self._process("master"), self._process("worker")]

    def alive_workers(self) -> int:
        """Workers the master reports ALIVE (0 when the master does not answer)."""
        try:
            with urllib.request.urlopen(f"{self.master_webui}/json/", timeout=2) as response:
                return int(json.load(response).get("aliveworkers", 0))
        except (OSError, ValueError):
            return 0

    def _spawn(self, role: str, arguments: list[str]) -> subprocess.Popen:
        spark_class = spark_home() / "bin" / "spark-class"
        # the web UIs (and the executors the worker starts) bind to SPARK_LOCAL_IP, else to every
        # interface
        environment = {**os.environ, "SPARK_HOME": str(spark_home()), "SPARK_LOCAL_IP": self.settings.host}
        if self.settings.authenticate:
            arguments = [*arguments, "--properties-file", str(self.state_dir / DAEMON_PROPERTIES)]
        log_file = self._log_file(role)
        with open(log_file, "ab") as log:
            # a session of its own: the daemon outlives `make cluster-up` and ignores its Ctrl-C
            process = subprocess.Popen(
                [str(spark_class), *arguments],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=environment,
                start_new_session=True,
            )
        self._pid_file(role).write_text(str(process.pid))
        return process

    def _wait(self, ready, process: subprocess.Popen | None, role: str, what: str) -> None:
        """Poll ``ready`` until it holds; fail early if the daemon we just started exits."""
        deadline = time.monotonic() + self.settings.start_timeout_seconds
        while time.monotonic() < deadline:
            if ready():
                return
            exited = process.poll() is not None if process is not None else not self._process(role).running
            if exited:
                raise ClusterError(
                    f"the Spark {role} exited during start-up; its log ends:\n{self._tail(role)}"
                )
            time.sleep(0.5)
        raise ClusterError(
            f"the Spark {role} did not {what} within {self.settings.start_timeout_seconds:.0f} s "
            f"(cluster.start_timeout_seconds); its log ends:\n{self._tail(role)}"
        )

    def _refuse_taken_port(self, port: int, key: str) -> None:
        if port_open(self.settings.host, port):
            raise ClusterError(
                f"port {port} ({key}) on {self.settings.host} is taken by another program; "
                "stop it or choose another port (conf/base/cluster.yml, or LAKEHOUSE_MASTER_PORT, "
                "LAKEHOUSE_MASTER_WEBUI_PORT, LAKEHOUSE_WORKER_WEBUI_PORT)"
            )

    def _process(self, role: str) -> ClusterProcess:
        pid_file = self._pid_file(role)
        pid = None
        if pid_file.exists():
            try:
                pid = int(pid_file.read_text().strip())
            except ValueError:
                pid = None
        main_class = MASTER_CLASS if role == "master" else WORKER_CLASS
        running = pid is not None and alive(pid) and main_class in command_line(pid)
        return ClusterProcess(role, pid, running, self._log_file(role))

    def _pid_file(self, role: str) -> Path:
        return self.state_dir / f"{role}.pid"

    def _log_file(self, role: str) -> Path:
        return self.state_dir / "logs" / f"{role}.log"

    def _tail(self, role: str, lines: int = 20) -> str:
        log_file = self._log_file(role)
        if not log_file.exists():
            return "(no log)"
        return "\n".join(log_file.read_text(errors="replace").splitlines()[-lines:])


def _reap(pid: int) -> None:
    """Collect the exit status when this process started the daemon, so no zombie stays behind."""
    for _ in range(50):
        try:
            if os.waitpid(pid, os.WNOHANG)[0] == pid:
                return
        except ChildProcessError:  # not our child: its own parent reaps it
            return
        time.sleep(0.1)
