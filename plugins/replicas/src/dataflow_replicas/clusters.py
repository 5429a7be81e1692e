"""Private primary + replica servers on this machine, for the replica tests and benchmarks.

``PostgresPair`` makes a PostgreSQL primary with ``initdb`` and a streaming replica of it with
``pg_basebackup -c fast -R``; ``MariaDBPair`` makes two ``mariadbd`` servers, the primary with a binary
log and the replica following it by GTID. Both live in a temporary directory on free ports, are kept
small (few connections, small buffers: the machine is shared) and are stopped and deleted by
``stop()`` (use them as context managers). Nothing here touches the machine's own servers.

PostgreSQL refuses to run as root: when the tests run as root, the servers run as the ``postgres``
user (``runuser``). ``missing()`` says why a pair cannot be made here (tools not installed …), so a
fixture can skip with that reason.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

__all__ = ["MariaDBPair", "PostgresPair", "free_port"]

PG_BIN = Path(os.environ.get("DATAFLOW_PG_BIN", "/usr/lib/postgresql/15/bin"))
_START_TIMEOUT = 60.0


def free_port() -> int:
    with contextlib.closing(socket.socket()) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_port(port: int, timeout: float = _START_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.closing(socket.socket()) as sock:
            sock.settimeout(0.5)
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout:g} s")


def _run(args: list[str], *, user: str | None = None, check: bool = True, timeout: float = 120.0,
         **kwargs: Any) -> subprocess.CompletedProcess[str]:
    if user is not None and os.geteuid() == 0:
        args = ["runuser", "-u", user, "--", *args]
    result = subprocess.run(args, capture_output=True, text=True, timeout=timeout, check=False, **kwargs)
    if check and result.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed ({result.returncode}): {result.stderr.strip() or result.stdout}")
    return result


class PostgresPair:
    """A private PostgreSQL primary and its streaming replica (``replicas=2``: two), see the module docstring."""

    def __init__(self, replicas: int = 1) -> None:
        self.base = Path(tempfile.mkdtemp(prefix="df-pg-replicas-"))
        self.primary_port = free_port()
        self.replica_ports = [free_port() for _ in range(replicas)]
        self.replica_port = self.replica_ports[0]
        self.user = "postgres" if os.geteuid() == 0 else None
        self.started: list[Path] = []

    @staticmethod
    def missing() -> str | None:
        """Why a pair cannot be made here, or None."""
        for tool in ("initdb", "pg_ctl", "pg_basebackup", "postgres"):
            if not (PG_BIN / tool).exists():
                return f"{PG_BIN / tool} is not installed (PostgreSQL 15 server binaries)"
        if os.geteuid() == 0:
            try:
                pwd.getpwnam("postgres")
            except KeyError:
                return "running as root and there is no 'postgres' user to run the servers as"
            if shutil.which("runuser") is None:
                return "running as root and runuser is not installed"
        return None

    @property
    def primary_url(self) -> str:
        return f"postgresql://root@127.0.0.1:{self.primary_port}/test"

    @property
    def replica_url(self) -> str:
        return f"postgresql://root@127.0.0.1:{self.replica_port}/test"

    @property
    def replica_urls(self) -> list[str]:
        return [f"postgresql://root@127.0.0.1:{port}/test" for port in self.replica_ports]

    def _dir(self, name: str) -> Path:
        return self.base / name

    def start(self) -> PostgresPair:
        try:
            if self.user is not None:
                shutil.chown(self.base, self.user, self.user)
            primary = self._dir("primary")
            _run([str(PG_BIN / "initdb"), "-D", str(primary), "-U", "root", "--auth=trust", "-E", "UTF8",
                  "--no-sync", "--locale=C.UTF-8"], user=self.user)
            with (primary / "postgresql.conf").open("a") as conf:
                conf.write("\n# dataflow replica tests: small and fast\n"
                           "listen_addresses = '127.0.0.1'\nshared_buffers = 16MB\nmax_connections = 60\n"
                           "wal_level = replica\nmax_wal_senders = 4\nhot_standby = on\nfsync = off\n"
                           "full_page_writes = off\nsynchronous_commit = off\n"
                           f"unix_socket_directories = '{self.base}'\n")
            with (primary / "pg_hba.conf").open("a") as hba:
                hba.write("host all all 127.0.0.1/32 trust\nhost replication all 127.0.0.1/32 trust\n")
            self._pg_ctl(primary, self.primary_port, "start")
            _run([str(PG_BIN / "psql"), "-h", "127.0.0.1", "-p", str(self.primary_port), "-U", "root", "-d",
                  "postgres", "-c", "CREATE DATABASE test"], user=self.user)
            for index, port in enumerate(self.replica_ports):
                replica = self._dir("replica" if index == 0 else f"replica{index + 1}")
                _run([str(PG_BIN / "pg_basebackup"), "-h", "127.0.0.1", "-p", str(self.primary_port), "-U", "root",
                      "-D", str(replica), "-R", "-c", "fast", "-X", "stream"], user=self.user)
                self._pg_ctl(replica, port, "start")
            return self
        except BaseException:
            self.stop()
            raise

    def _pg_ctl(self, data: Path, port: int, action: str) -> None:
        log = self.base / f"{data.name}.log"
        options = f"-p {port} -k {self.base}"
        _run([str(PG_BIN / "pg_ctl"), "-D", str(data), "-l", str(log), "-o", options, "-w", "-t", "60", action],
             user=self.user)
        if action == "start":
            if data not in self.started:
                self.started.append(data)
            _wait_port(port)

    def stop_replica(self) -> None:
        """Stop the replica at once (clients see their sessions end)."""
        _run([str(PG_BIN / "pg_ctl"), "-D", str(self._dir("replica")), "-m", "immediate", "-w", "stop"],
             user=self.user, check=False)

    def start_replica(self) -> None:
        self._pg_ctl(self._dir("replica"), self.replica_port, "start")

    def stop(self) -> None:
        """Stop both servers (immediately: their data is thrown away) and delete their files."""
        for data in reversed(self.started):
            _run([str(PG_BIN / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"], user=self.user,
                 check=False)
        self.started.clear()
        shutil.rmtree(self.base, ignore_errors=True)

    def __enter__(self) -> PostgresPair:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class MariaDBPair:
    """A private MariaDB primary (binary log on) and a replica following it by GTID."""

    def __init__(self) -> None:
        self.base = Path(tempfile.mkdtemp(prefix="df-maria-replicas-"))
        self.primary_port = free_port()
        self.replica_port = free_port()
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.user = "mysql" if os.geteuid() == 0 else None

    @staticmethod
    def missing() -> str | None:
        for tool in ("mariadbd", "mariadb-install-db"):
            if shutil.which(tool, path=os.environ.get("PATH", "") + ":/usr/sbin:/usr/bin") is None:
                return f"{tool} is not installed (MariaDB server)"
        if os.geteuid() == 0:
            try:
                pwd.getpwnam("mysql")
            except KeyError:
                return "running as root and there is no 'mysql' user to run the servers as"
        return None

    @property
    def primary_url(self) -> str:
        return f"mysql://root@127.0.0.1:{self.primary_port}/test"

    @property
    def replica_url(self) -> str:
        return f"mysql://root@127.0.0.1:{self.replica_port}/test"

    def _mariadbd(self) -> str:
        return shutil.which("mariadbd", path=os.environ.get("PATH", "") + ":/usr/sbin") or "mariadbd"

    def _install(self, name: str) -> Path:
        data = self.base / name
        data.mkdir()
        args = [shutil.which("mariadb-install-db") or "mariadb-install-db", f"--datadir={data}",
                "--auth-root-authentication-method=normal", "--skip-test-db", "--no-defaults"]
        if self.user is not None:
            shutil.chown(data, self.user, self.user)
            args.append(f"--user={self.user}")
        _run(args)
        return data

    def _server(self, name: str, port: int, server_id: int, *, binlog: bool) -> None:
        data = self.base / name
        args = [self._mariadbd(), "--no-defaults", f"--datadir={data}", f"--port={port}", "--bind-address=127.0.0.1",
                f"--socket={self.base / (name + '.sock')}", f"--pid-file={self.base / (name + '.pid')}",
                f"--server-id={server_id}", "--innodb-buffer-pool-size=16M", "--max-connections=60",
                "--innodb-log-file-size=16M", "--skip-name-resolve", "--innodb-flush-log-at-trx-commit=2",
                "--performance-schema=OFF", "--skip-log-error", f"--log-error={self.base / (name + '.err')}"]
        if binlog:
            args += [f"--log-bin={data / 'binlog'}", "--binlog-format=ROW"]
        else:
            args += ["--read-only=ON", "--relay-log=relay"]
        if self.user is not None:
            args.append(f"--user={self.user}")
        log = (self.base / (name + ".out")).open("wb")
        self.processes[name] = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
        _wait_port(port)

    def sql(self, port: int, statement: str) -> str:
        client = shutil.which("mariadb") or shutil.which("mysql") or "mariadb"
        return _run([client, "--no-defaults", "-h", "127.0.0.1", "-P", str(port), "-u", "root", "-N", "-B",
                     "-e", statement]).stdout

    def start(self) -> MariaDBPair:
        try:
            if self.user is not None:
                shutil.chown(self.base, self.user, self.user)
            self._install("primary")
            self._install("replica")
            self._server("primary", self.primary_port, 1, binlog=True)
            self._server("replica", self.replica_port, 2, binlog=False)
            self.sql(self.primary_port, "CREATE DATABASE IF NOT EXISTS test")
            self.start_replication()
            return self
        except BaseException:
            self.stop()
            raise

    def start_replication(self) -> None:
        self.sql(self.replica_port,
                 f"CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT={self.primary_port}, MASTER_USER='root', "
                 "MASTER_PASSWORD='', MASTER_USE_GTID=slave_pos, MASTER_CONNECT_RETRY=1; START SLAVE")
        deadline = time.monotonic() + _START_TIMEOUT
        while time.monotonic() < deadline:  # the database made on the primary arrives through replication
            if "test" in self.sql(self.replica_port, "SHOW DATABASES").split():
                return
            time.sleep(0.1)
        raise TimeoutError("the MariaDB replica did not catch up with its primary")

    def stop_replica(self) -> None:
        process = self.processes.pop("replica", None)
        if process is not None:
            process.kill()
            process.wait(30)

    def start_replica(self) -> None:
        self._server("replica", self.replica_port, 2, binlog=False)

    def stop(self) -> None:
        for process in self.processes.values():
            process.kill()
        for process in self.processes.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(30)
        self.processes.clear()
        shutil.rmtree(self.base, ignore_errors=True)

    def __enter__(self) -> MariaDBPair:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
