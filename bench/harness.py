"""Shared pieces for the benchmarks: a PostgreSQL bench database, a gunicorn server, wrk runs.

Benchmarks compare against a floor measured in the same run on the same machine, and print
ratios: absolute numbers drift from run to run on a shared 2-core machine.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
DEFAULT_PG = "postgres://postgres@127.0.0.1:5432/scrm_bench"


def bench_env(**extra: str) -> dict[str, str]:
    """Environment for manage.py and gunicorn: production-like settings on the bench database."""
    env = dict(os.environ)
    env.setdefault("BENCH_DATABASE_URL", DEFAULT_PG)
    env.update(
        {
            "DATABASE_URL": env["BENCH_DATABASE_URL"],
            "DEBUG": "0",
            "SECRET_KEY": env.get("BENCH_SECRET_KEY", "bench-" + "x" * 60),
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "SECURE_SSL_REDIRECT": "0",
            "LOG_LEVEL": "WARNING",
        }
    )
    env.update(extra)
    return env


def require_postgres() -> None:
    """Benchmarks are defined on PostgreSQL; say so instead of measuring SQLite."""
    url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_PG)
    if not url.startswith("postgres"):
        raise SystemExit(f"bench needs PostgreSQL (BENCH_DATABASE_URL), got {url}")


def ensure_database() -> None:
    """Create the bench database if missing, and migrate it."""
    url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_PG)
    name = url.rsplit("/", 1)[-1]
    host_part = url.split("@", 1)[-1].split("/", 1)[0]
    host, _, port = host_part.partition(":")
    exists = subprocess.run(
        [
            "psql",
            "-h",
            host,
            "-p",
            port or "5432",
            "-U",
            "postgres",
            "-tAc",
            f"SELECT 1 FROM pg_database WHERE datname = '{name}'",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    if not exists:
        subprocess.run(
            ["createdb", "-h", host, "-p", port or "5432", "-U", "postgres", name], check=True
        )
    manage("migrate", "--noinput", "-v", "0")


# The shared bench population: 1M members with ~2.1M orders (seed 1), made once and kept.
BENCH_MEMBERS = int(os.environ.get("BENCH_MEMBERS", "1000000"))


def ensure_bench_members() -> int:
    """The bench database, migrated and seeded with BENCH_MEMBERS members when it has fewer
    (always the same seed and options, so no bench reseeds another's data). Returns the
    member count. Every bench on the shared database starts here: a fresh machine needs no
    step first."""
    require_postgres()
    ensure_database()
    count = _member_count()
    if count < BENCH_MEMBERS:
        print(
            f"seeding {BENCH_MEMBERS:,} members (once; kept in the bench database)...", flush=True
        )
        manage(
            "seed_demo",
            "--members",
            str(BENCH_MEMBERS),
            "--seed",
            "1",
            "--reset",
            "--no-events",
            "--no-progress",
        )
        count = _member_count()
    return count


def _member_count() -> int:
    out = manage(
        "shell",
        "-c",
        "from members.models import Member; print(Member.objects.count())",
        capture=True,
    )
    return int(out.strip().splitlines()[-1])


def manage(*args: str, capture: bool = False) -> str:
    """Run manage.py with the bench environment."""
    result = subprocess.run(
        [PYTHON, "manage.py", *args],
        cwd=ROOT,
        env=bench_env(),
        check=True,
        capture_output=capture,
        text=True,
    )
    return result.stdout if capture else ""


def free_port() -> int:
    with contextlib.closing(socket.socket()) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def gunicorn(workers: int = 2):
    """Serve the project with gunicorn sync workers (as in production) on a free port."""
    port = free_port()
    proc = subprocess.Popen(
        [
            PYTHON,
            "-m",
            "gunicorn",
            "scrm.wsgi",
            "-w",
            str(workers),
            "-b",
            f"127.0.0.1:{port}",
            "--log-level",
            "warning",
            "--keep-alive",
            "30",
        ],
        cwd=ROOT,
        env=bench_env(),
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                urllib.request.urlopen(f"{base}/healthz", timeout=1)
                break
            except OSError:
                time.sleep(0.3)
        else:
            raise SystemExit("gunicorn did not start")
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=20)


@dataclass
class WrkResult:
    label: str
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int


def _ms(text: str) -> float:
    value, unit = re.match(r"([\d.]+)(us|ms|s|m)", text).groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}[unit]


def wrk(
    label: str,
    url: str,
    *,
    headers: dict[str, str],
    duration: int = 10,
    connections: int = 8,
    threads: int = 2,
    lua: str | None = None,
) -> WrkResult:
    """Load ``url`` with wrk and return requests/s and latency percentiles."""
    if not shutil.which("wrk"):
        raise SystemExit("bench needs wrk (apt-get install wrk)")
    cmd = ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{duration}s", "--latency"]
    for name, value in headers.items():
        cmd += ["-H", f"{name}: {value}"]
    with tempfile.TemporaryDirectory() as tmp:
        if lua:
            script = Path(tmp) / "script.lua"
            script.write_text(lua)
            cmd += ["-s", str(script)]
        out = subprocess.run(cmd + [url], capture_output=True, text=True, check=True).stdout
    if "Latency Distribution" not in out:
        raise SystemExit(f"wrk gave no latency figures for {label}:\n{out}")
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p50 = _ms(re.search(r"\s50%\s+(\S+)", out).group(1))
    p99 = _ms(re.search(r"\s99%\s+(\S+)", out).group(1))
    errors = 0
    if m := re.search(r"Non-2xx or 3xx responses: (\d+)", out):
        errors += int(m.group(1))
    if m := re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out):
        errors += sum(int(g) for g in m.groups())
    return WrkResult(label, rps, p50, p99, errors)


def print_table(results: list[WrkResult], floor: WrkResult) -> None:
    print(f"{'endpoint':<34}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}{'vs floor':>10}")
    for r in results:
        ratio = r.rps / floor.rps if floor.rps else 0
        print(
            f"{r.label:<34}{r.rps:>9.0f}{r.p50_ms:>9.1f}{r.p99_ms:>9.1f}{r.errors:>8}{ratio:>9.0%}"
        )
