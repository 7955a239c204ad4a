"""A local PostgreSQL server for the demo and the tests: a development server, never a production one.

Bronze ingestion reads a real PostgreSQL database over JDBC; the demo and the tests start their own
server with :class:`LocalPostgres`, from the binaries of the Debian package ``postgresql``
(``/usr/lib/postgresql/<version>/bin``). Everything the server needs lives in one folder::

    <data_dir>/cluster/            the database cluster (initdb's data directory)
    <data_dir>/postgres.log        the server's log
    <data_dir>/.s.PGSQL.<port>     its unix socket (not /var/run/postgresql)

The server trusts every connection from its unix socket and from the loopback address it listens on,
without a password, and listens on nothing else: fine for a laptop or a CI machine, wrong anywhere
else.

PostgreSQL refuses to run as root. When this process is root, ``initdb``, ``pg_ctl`` and ``psql`` run
as the ``postgres`` OS user (``runuser -u postgres --``), the data folder is handed to that user, and
the folders above it get the search permission (``o+x``, never read) it needs to reach the folder.
Otherwise they run as the current user. Once the server runs, nothing needs that path any more: the
status comes from ``postmaster.pid``, ``psql`` connects over TCP and ``stop`` signals the server.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import pwd
import re
import shutil
import signal
import stat
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from lakehouse.errors import DatabaseError
from lakehouse.processes import alive, command_line, port_open

logger = logging.getLogger(__name__)

SERVER_OS_USER = "postgres"
"""The OS user that runs the server when this process is root (the Debian package creates it)."""

SUPERUSER = "postgres"
"""The bootstrap superuser role that ``initdb`` creates, whoever runs it."""

DEBIAN_POSTGRES_ROOT = Path("/usr/lib/postgresql")
"""Where Debian installs each PostgreSQL version: ``<root>/<version>/bin``."""

REQUIRED_BINARIES = ("initdb", "pg_ctl", "postgres", "psql")
INSTALL_HINT = (
    "install the PostgreSQL server with `apt-get install -y postgresql` "
    "(Debian/Ubuntu; `make setup` does it when run as root)"
)
DEFAULT_JDBC_PORT = 5432

# Roles and databases are interpolated into SQL, so only plain lower-case identifiers are accepted.
_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
# sun_path holds 108 bytes with the final NUL; PostgreSQL refuses longer socket paths.
_SOCKET_PATH_LIMIT = 107
_SETTINGS_FILE = "lakehouse.conf"


@dataclass(frozen=True)
class PostgresStatus:
    """Whether the server of a data folder runs, and where.

    Attributes:
        running: the server process is alive.
        pid: the server (postmaster) process id, None when it does not run.
        port: the TCP port it listens on, None when it does not run.
        data_dir: the folder of the server (cluster, log, socket).
        log_file: the server's log.
    """

    running: bool
    pid: int | None
    port: int | None
    data_dir: Path
    log_file: Path


class LocalPostgres:
    """Start, inspect and stop a development PostgreSQL server that keeps everything in one folder.

    The first :meth:`start` creates the cluster, the role ``user`` and the database ``database``
    owned by it; later starts reuse them, so the data survive a stop.

    Args:
        data_dir: the folder of this server: cluster, log and unix socket (created when missing).
        port: the TCP port to listen on.
        host: the loopback address to listen on (the server trusts every connection, so it never
            listens on a network interface).
        database: the database to create and connect to.
        user: the role (without password) that owns ``database``.
        start_timeout_seconds: how long :meth:`start` waits for the server to accept connections.

    Raises:
        TypeError: ``port`` is not an int.
        ValueError: ``port`` is out of range, ``host`` is not a loopback address, or ``database`` or
            ``user`` is not a plain lower-case identifier.
    """

    def __init__(
        self,
        data_dir: Path,
        port: int,
        host: str = "127.0.0.1",
        database: str = "shop",
        user: str = "lakehouse",
        *,
        start_timeout_seconds: float = 60.0,
    ):
        if isinstance(port, bool) or not isinstance(port, int):
            raise TypeError(f"port must be an int, got {type(port).__name__}: {port!r}")
        if not 1 <= port <= 65535:
            raise ValueError(f"port must be between 1 and 65535, got {port}")
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            address = None
        if address is None or not address.is_loopback:
            raise ValueError(
                f"host must be a loopback IP address such as 127.0.0.1, got {host!r}: "
                "the local server trusts every connection, so it never listens on a network interface"
            )
        for name, value in (("database", database), ("user", user)):
            if not isinstance(value, str) or not _IDENTIFIER.match(value):
                raise ValueError(
                    f"{name} must be a lower-case identifier (letters, digits, _; at most 63), got {value!r}"
                )
        if start_timeout_seconds <= 0:
            raise ValueError(f"start_timeout_seconds must be positive, got {start_timeout_seconds}")
        self.data_dir = Path(data_dir).absolute()
        self.port = port
        self.host = str(address)
        self.database = database
        self.user = user
        self.start_timeout_seconds = float(start_timeout_seconds)

    def __repr__(self) -> str:
        return f"LocalPostgres({str(self.data_dir)!r}, port={self.port}, host={self.host!r})"

    @property
    def cluster_dir(self) -> Path:
        """The database cluster (what PostgreSQL calls the data directory)."""
        return self.data_dir / "cluster"

    @property
    def log_file(self) -> Path:
        """The server's log."""
        return self.data_dir / "postgres.log"

    @property
    def jdbc_url(self) -> str:
        """The URL that Spark's JDBC source takes: ``jdbc:postgresql://host:port/database``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"jdbc:postgresql://{host}:{self.port}/{self.database}"

    @staticmethod
    def binaries() -> Path:
        """The folder holding the PostgreSQL server binaries (``initdb``, ``pg_ctl``, ``postgres``, ``psql``).

        The folder of the ``pg_ctl`` on PATH (symbolic links followed) comes first, then the newest
        ``/usr/lib/postgresql/<version>/bin``.

        Raises:
            DatabaseError: no such folder; the message says how to install the server.
        """
        candidates = []
        on_path = shutil.which("pg_ctl")
        if on_path:
            candidates.append(Path(on_path).resolve().parent)
        versions = sorted(
            (folder for folder in DEBIAN_POSTGRES_ROOT.glob("*/bin") if folder.parent.name.isdigit()),
            key=lambda folder: int(folder.parent.name),
            reverse=True,
        )
        candidates.extend(versions)
        for folder in candidates:
            if all(os.access(folder / name, os.X_OK) for name in REQUIRED_BINARIES):
                return folder
        raise DatabaseError(
            f"the PostgreSQL server binaries ({', '.join(REQUIRED_BINARIES)}) are neither on PATH nor "
            f"in {DEBIAN_POSTGRES_ROOT}/<version>/bin: {INSTALL_HINT}"
        )

    def start(self) -> None:
        """Start the server and wait until it accepts connections; create the role and database if missing.

        Does nothing but the role and database check when the server already runs, so it can be
        called again safely.

        Raises:
            DatabaseError: the binaries are missing, the port is taken by another program, the server
                already runs on another port, the cluster was made by another PostgreSQL version,
                or the server does not start within ``start_timeout_seconds`` (the log file is named).
        """
        current = self.status()
        if current.running:
            if current.port != self.port:
                raise DatabaseError(
                    f"the PostgreSQL server of {self.data_dir} already runs on port {current.port}, "
                    f"not {self.port}: stop it first, or use port {current.port}"
                )
            self._create_role_and_database()
            return
        bin_dir = self.binaries()
        if port_open(self.host, self.port):
            raise DatabaseError(
                f"port {self.port} on {self.host} is taken by another program; stop it or choose "
                "another port for the local PostgreSQL server"
            )
        socket_path = self.data_dir / f".s.PGSQL.{self.port}"
        if len(os.fsencode(socket_path)) > _SOCKET_PATH_LIMIT:
            raise DatabaseError(
                f"the unix socket path {socket_path} is longer than the {_SOCKET_PATH_LIMIT} bytes "
                "PostgreSQL accepts: choose a data folder with a shorter path"
            )
        self._prepare_data_dir()
        if (self.cluster_dir / "PG_VERSION").exists():
            self._check_cluster_version(bin_dir)
        else:
            self._create_cluster(bin_dir)
        self._write_settings()
        try:
            self._launch(bin_dir)
            self._create_role_and_database()
        except DatabaseError:
            self.stop()  # leave no half-started server behind
            raise
        logger.info("PostgreSQL runs at %s (data and log in %s)", self.jdbc_url, self.data_dir)

    def stop(self, timeout_seconds: float = 30.0) -> bool:
        """Stop the server with a fast shutdown (open transactions roll back, clients are disconnected).

        Safe to call when the server does not run.

        Args:
            timeout_seconds: how long to wait before an immediate shutdown.

        Returns:
            True when a running server was stopped, False when none ran.

        Raises:
            DatabaseError: the server cannot be signalled (another OS user's) or does not exit.
        """
        current = self.status()
        if not current.running:
            return False
        # SIGINT is PostgreSQL's fast shutdown, SIGQUIT its immediate one (what `pg_ctl stop -m` sends);
        # signalling needs no access to the data folder's path, which may have become unreachable.
        for shutdown, wait_seconds in ((signal.SIGINT, timeout_seconds), (signal.SIGQUIT, 10.0)):
            try:
                os.kill(current.pid, shutdown)
            except ProcessLookupError:
                break
            except PermissionError as error:
                raise DatabaseError(
                    f"cannot stop the PostgreSQL server of {self.data_dir} (pid {current.pid}): "
                    f"it belongs to another OS user ({error})"
                ) from error
            deadline = time.monotonic() + wait_seconds
            while alive(current.pid) and time.monotonic() < deadline:
                time.sleep(0.05)
            if not alive(current.pid):
                break
            if shutdown == signal.SIGINT:
                logger.warning(
                    "PostgreSQL (pid %s) ignored a fast shutdown: shutting it down now", current.pid
                )
        if alive(current.pid):
            raise DatabaseError(
                f"the PostgreSQL server of {self.data_dir} (pid {current.pid}) does not exit; "
                f"see its log {self.log_file}"
            )
        logger.info("PostgreSQL on port %s stopped", current.port)
        return True

    def status(self) -> PostgresStatus:
        """Whether the server of ``data_dir`` runs, from its ``postmaster.pid`` and the process table."""
        pid = port = None
        try:
            lines = (self.cluster_dir / "postmaster.pid").read_text().splitlines()
        except FileNotFoundError:
            lines = []
        except OSError as error:
            raise DatabaseError(f"cannot read {self.cluster_dir / 'postmaster.pid'}: {error}") from error
        # postmaster.pid: pid, data directory, start time, port, socket folder, listen address, ...
        if len(lines) >= 4 and lines[0].strip().isdigit() and lines[3].strip().isdigit():
            pid, port = int(lines[0]), int(lines[3])
        # a pid file left by a crash, or a pid since reused by another program, is not a server
        running = pid is not None and alive(pid) and _is_postmaster(pid)
        return PostgresStatus(
            running=running,
            pid=pid if running else None,
            port=port if running else None,
            data_dir=self.data_dir,
            log_file=self.log_file,
        )

    def is_running(self) -> bool:
        """True when the server of ``data_dir`` runs."""
        return self.status().running

    def psql(self, sql: str) -> str:
        """Run SQL through the ``psql`` binary as ``user`` on ``database`` (for tests and admin work).

        Statements run one after the other, each in its own transaction unless the SQL says
        ``BEGIN``; the first error stops the script.

        Args:
            sql: one or more SQL statements (psql meta-commands allowed).

        Returns:
            psql's unaligned output without headers: one line per row, fields separated by ``|``.

        Raises:
            TypeError: ``sql`` is not a string.
            DatabaseError: the server cannot be reached or a statement fails (psql's message included).
        """
        if not isinstance(sql, str):
            raise TypeError(f"sql must be a str, got {type(sql).__name__}")
        return self._run_sql(sql, role=self.user, database=self.database)

    def _run_sql(self, sql: str, role: str, database: str) -> str:
        command = [
            str(self.binaries() / "psql"),
            "--no-psqlrc",
            "--quiet",
            "--no-align",
            "--tuples-only",
            "--set=ON_ERROR_STOP=1",
            f"--host={self.host}",
            f"--port={self.port}",
            f"--username={role}",
            f"--dbname={database}",
            "--file=-",
        ]
        result = self._run(command, f"psql as {role} on {database}", input_text=sql, check=False)
        if result.returncode != 0:
            raise DatabaseError(
                f"psql as {role} on {self.jdbc_url.rsplit('/', 1)[0]}/{database} failed: "
                f"{result.stderr.strip() or result.stdout.strip()}"
            )
        return result.stdout

    def _prepare_data_dir(self) -> None:
        """Create the data folder; when root, hand it to the server's OS user and let it reach it."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        account = _server_account()
        if account is None:
            if self.data_dir.stat().st_uid == os.geteuid():
                self.data_dir.chmod(0o700)  # the unix socket in it lets anyone in without a password
            return
        os.chown(self.data_dir, account.pw_uid, account.pw_gid)
        self.data_dir.chmod(0o700)
        groups = set(os.getgrouplist(account.pw_name, account.pw_gid))
        for folder in self.data_dir.resolve().parents:
            info = folder.stat()
            if _may_search(info, account.pw_uid, groups):
                continue
            # search only: the folder's listing stays private
            folder.chmod(stat.S_IMODE(info.st_mode) | stat.S_IXOTH)
            logger.info(
                "granted search permission (o+x) on %s so that %s can reach %s",
                folder,
                account.pw_name,
                self.data_dir,
            )

    def _create_cluster(self, bin_dir: Path) -> None:
        if self.cluster_dir.exists() and any(self.cluster_dir.iterdir()):
            raise DatabaseError(
                f"{self.cluster_dir} is not empty but holds no PostgreSQL cluster (no PG_VERSION): "
                "move it away or delete it"
            )
        self._run(
            [
                str(bin_dir / "initdb"),
                f"--pgdata={self.cluster_dir}",
                f"--username={SUPERUSER}",
                "--auth-local=trust",
                "--auth-host=trust",
                "--encoding=UTF8",
                "--no-locale",
                "--no-sync",  # a development cluster: skip the final fsync of every file
            ],
            "initdb",
            timeout=120,
        )
        network = f"{self.host}/{32 if ipaddress.ip_address(self.host).version == 4 else 128}"
        # replaces initdb's file, which also trusts ::1 and replication connections
        (self.cluster_dir / "pg_hba.conf").write_text(
            "# Written by lakehouse.demo.postgres.LocalPostgres: a DEVELOPMENT server.\n"
            "# Every connection from the unix socket or the loopback address is trusted without password.\n"
            "# TYPE  DATABASE  USER  ADDRESS  METHOD\n"
            "local   all       all            trust\n"
            f"host    all       all   {network}  trust\n"
        )
        with open(self.cluster_dir / "postgresql.conf", "a") as settings:
            settings.write(
                "\n# Listening address, port and socket folder: rewritten by LocalPostgres at each start.\n"
                f"include_if_exists = '{_SETTINGS_FILE}'\n"
            )
        logger.info("created a PostgreSQL cluster in %s", self.cluster_dir)

    def _check_cluster_version(self, bin_dir: Path) -> None:
        cluster_version = (self.cluster_dir / "PG_VERSION").read_text().strip()
        output = self._run([str(bin_dir / "postgres"), "--version"], "postgres --version").stdout
        found = re.search(r"\(PostgreSQL\) (\d+)", output)
        if found and found.group(1) != cluster_version:
            raise DatabaseError(
                f"{self.cluster_dir} was made by PostgreSQL {cluster_version} but the binaries in {bin_dir} "
                f"are PostgreSQL {found.group(1)}: install PostgreSQL {cluster_version}, or delete "
                f"{self.data_dir} to start afresh (its databases are lost)"
            )

    def _write_settings(self) -> None:
        settings_file = self.cluster_dir / _SETTINGS_FILE
        settings_file.write_text(
            "# Written by lakehouse.demo.postgres.LocalPostgres at each start: a DEVELOPMENT server.\n"
            f"listen_addresses = {_quote_setting(self.host)}\n"
            f"port = {self.port}\n"
            f"unix_socket_directories = {_quote_setting(str(self.data_dir))}\n"
            # a crash may lose the last commits, never corrupt the cluster; commits return sooner
            "synchronous_commit = off\n"
        )
        account = _server_account()
        if account is not None:
            os.chown(settings_file, account.pw_uid, account.pw_gid)
        settings_file.chmod(0o600)

    def _launch(self, bin_dir: Path) -> None:
        timeout = max(1, round(self.start_timeout_seconds))
        result = self._run(
            [
                str(bin_dir / "pg_ctl"),
                "start",
                f"--pgdata={self.cluster_dir}",
                f"--log={self.log_file}",
                "--wait",
                f"--timeout={timeout}",
                "--silent",
            ],
            "pg_ctl start",
            check=False,
            timeout=timeout + 30,
        )
        if result.returncode != 0:
            reason = " ".join((result.stderr.strip() or result.stdout.strip()).split())
            raise DatabaseError(
                f"the PostgreSQL server on {self.host}:{self.port} did not start ({reason}); "
                f"see its log {self.log_file}, which ends:\n{self._tail()}"
            )
        deadline = time.monotonic() + self.start_timeout_seconds
        while not port_open(self.host, self.port):
            if time.monotonic() > deadline:
                raise DatabaseError(
                    f"the PostgreSQL server started but accepts no connection on {self.host}:{self.port}; "
                    f"see its log {self.log_file}, which ends:\n{self._tail()}"
                )
            time.sleep(0.1)

    def _create_role_and_database(self) -> None:
        # \gexec runs each query result as a statement: CREATE only what is missing
        self._run_sql(
            f"SELECT 'CREATE ROLE {self.user} LOGIN' "
            f"WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{self.user}') \\gexec\n"
            f"SELECT 'CREATE DATABASE {self.database} OWNER {self.user}' "
            f"WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '{self.database}') \\gexec\n",
            role=SUPERUSER,
            database="postgres",
        )

    def _run(
        self,
        command: list[str],
        what: str,
        *,
        input_text: str | None = None,
        check: bool = True,
        timeout: float | None = None,
    ) -> subprocess.CompletedProcess:
        """Run a PostgreSQL program as the server's OS user; with ``check``, fail on a non-zero exit."""
        # PG* variables of the caller (PGHOST, PGOPTIONS...) must not redirect or alter the command
        environment = {key: value for key, value in os.environ.items() if not key.startswith("PG")}
        environment.update(PGCONNECT_TIMEOUT="10", PGCLIENTENCODING="UTF8")
        try:
            result = subprocess.run(
                _as_server_user(command),
                input=input_text,
                capture_output=True,
                text=True,
                env=environment,
                cwd="/",  # the server's OS user may not reach the caller's working folder
                timeout=timeout,
            )
        except subprocess.TimeoutExpired as error:
            raise DatabaseError(f"{what} did not finish within {timeout:.0f} s") from error
        if check and result.returncode != 0:
            raise DatabaseError(
                f"{what} failed for {self.data_dir} (exit status {result.returncode}): "
                f"{(result.stderr.strip() or result.stdout.strip())[-2000:]}"
            )
        return result

    def _tail(self, lines: int = 20) -> str:
        if not self.log_file.exists():
            return "(no log)"
        return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])


def parse_jdbc_url(url: str) -> tuple[str, int, str]:
    """Split a PostgreSQL JDBC URL ``jdbc:postgresql://host[:port]/database[?properties]``.

    Args:
        url: the URL; the port defaults to 5432, as in the JDBC driver; properties are ignored.

    Returns:
        ``(host, port, database)``; an IPv6 host comes without its brackets.

    Raises:
        ValueError: ``url`` is not a PostgreSQL JDBC URL with a host and a database.
    """
    expected = "expected jdbc:postgresql://host:port/database"
    if not isinstance(url, str) or not url.startswith("jdbc:postgresql://"):
        raise ValueError(f"not a PostgreSQL JDBC URL: {url!r}; {expected}")
    parts = urlsplit(url.removeprefix("jdbc:"))
    try:
        port = parts.port
    except ValueError:
        raise ValueError(f"invalid port in JDBC URL {url!r}; {expected}") from None
    database = parts.path.removeprefix("/")
    if parts.username is not None or parts.password is not None:
        raise ValueError(f"JDBC URL {url!r} carries credentials: pass user and password as options")
    if not parts.hostname:
        raise ValueError(f"no host in JDBC URL {url!r}; {expected}")
    if not database or "/" in database:
        raise ValueError(f"no database (or a path) in JDBC URL {url!r}; {expected}")
    return parts.hostname, port if port is not None else DEFAULT_JDBC_PORT, database


def _server_account() -> pwd.struct_passwd | None:
    """The OS account that runs PostgreSQL when this process is root, None otherwise (run as ourselves)."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(SERVER_OS_USER)
    except KeyError:
        raise DatabaseError(
            f"PostgreSQL refuses to run as root and there is no {SERVER_OS_USER!r} OS user to run it: "
            f"{INSTALL_HINT} (the package creates the user), or run as a non-root user"
        ) from None


def _as_server_user(command: list[str]) -> list[str]:
    if _server_account() is None:
        return command
    runuser = shutil.which("runuser") or shutil.which("runuser", path="/usr/sbin:/sbin")
    if runuser is None:
        raise DatabaseError(
            f"running as root, PostgreSQL must run as the {SERVER_OS_USER!r} OS user, but `runuser` "
            "(util-linux) is not installed: install util-linux, or run as a non-root user"
        )
    return [runuser, "-u", SERVER_OS_USER, "--", *command]


def _is_postmaster(pid: int) -> bool:
    """Whether the process runs the server binary (the postmaster keeps its command line, backends don't)."""
    program = command_line(pid).split(" ", 1)[0]
    return Path(program).name in ("postgres", "postmaster")


def _may_search(info: os.stat_result, uid: int, groups: set[int]) -> bool:
    """Whether a user may traverse a folder with these permissions."""
    if info.st_uid == uid:
        return bool(info.st_mode & stat.S_IXUSR)
    if info.st_gid in groups:
        return bool(info.st_mode & stat.S_IXGRP)
    return bool(info.st_mode & stat.S_IXOTH)


def _quote_setting(value: str) -> str:
    """A string value for postgresql.conf."""
    return "'" + value.replace("'", "''") + "'"
