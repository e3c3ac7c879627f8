"""HTTP load: the service under gunicorn (N sync workers) and any peer URL, driven by wrk on
loopback for a bounded time, with latency percentiles and the workers' resident memory."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import urllib.parse
from pathlib import Path

from bench.peers import private_mb, rss_mb, wait_http

ROOT = Path(__file__).resolve().parent.parent
LUA = """
local paths = {}
local method = "GET"
local body = nil
local idx = 0
function init(args)
  for line in io.lines(args[1]) do paths[#paths + 1] = line end
  idx = math.random(#paths)
  if args[2] then
    method = "POST"
    local fh = io.open(args[2], "rb"); body = fh:read("*a"); fh:close()
  end
end
function request()
  idx = idx % #paths + 1
  if method == "POST" then
    return wrk.format("POST", paths[idx], {["Content-Type"] = "application/json"}, body)
  end
  return wrk.format("GET", paths[idx])
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'JSON {"requests":%d,"duration_us":%d,"errors":%d,"non2xx":%d,' ..
    '"p50_us":%d,"p99_us":%d,"max_us":%d,"mean_us":%f}\\n',
    summary.requests, summary.duration, e.connect + e.read + e.write + e.timeout, e.status,
    latency:percentile(50), latency:percentile(99), latency.max, latency.mean))
end
"""


def wrk_path() -> str | None:
    """The wrk binary, if installed (Debian package `wrk`)."""
    return shutil.which("wrk")


def quote_path(path: str, params: dict | None = None) -> str:
    """A request path with its query string encoded."""
    if not params:
        return path
    return f"{path}?{urllib.parse.urlencode(params, doseq=True)}"


def run_wrk(
    base: str,
    paths: list[str],
    work: Path,
    name: str,
    *,
    seconds: float,
    connections: int = 8,
    threads: int = 1,
    body: bytes | None = None,
) -> dict:
    """Load base+paths (cycled) for a bounded time; requests/s and latency in ms."""
    work.mkdir(parents=True, exist_ok=True)
    script = work / "bench.lua"
    script.write_text(LUA)
    listing = work / f"{name}.paths"
    listing.write_text("\n".join(paths) + "\n")
    args = [str(listing)]
    if body is not None:
        (work / f"{name}.body").write_bytes(body)
        args.append(str(work / f"{name}.body"))
    cmd = [wrk_path() or "wrk", f"-t{threads}", f"-c{connections}", f"-d{max(1, round(seconds))}s",
           "--timeout", "10s", "-s", str(script), base, "--", *args]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60)
    line = next((ln for ln in done.stdout.splitlines() if ln.startswith("JSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk gave no figures: {done.stdout[-500:]} {done.stderr[-500:]}")
    raw = json.loads(line[5:])
    secs = raw["duration_us"] / 1e6
    return {
        "rps": raw["requests"] / secs if secs else 0.0,
        "requests": raw["requests"],
        "errors": raw["errors"],
        "non2xx": raw["non2xx"],
        "median": raw["p50_us"] / 1000,
        "p99": raw["p99_us"] / 1000,
        "max": raw["max_us"] / 1000,
        "mean": raw["mean_us"] / 1000,
        "seconds": secs,
        "connections": connections,
    }


class Gunicorn:
    """The service under gunicorn with N sync workers on loopback."""

    def __init__(self, workers: int, port: int, env: dict, log: Path, root: Path = ROOT) -> None:
        self.port = port
        self.base = f"http://127.0.0.1:{port}"
        self.log = log.open("ab")
        # gunicorn puts the directory it was started from ($PWD) first on sys.path: start it in
        # root, or a snapshot run would serve the checkout's code.
        full_env = {**os.environ, **env, "PYTHONPATH": str(root), "PWD": str(root)}
        gunicorn = Path(sys.executable).with_name("gunicorn")
        self.proc = subprocess.Popen(
            [str(gunicorn), "-w", str(workers), "-b", f"127.0.0.1:{port}", "--chdir", str(root),
             "--timeout", "120", "--log-level", "warning", "wsgi:app"],
            stdout=self.log, stderr=self.log, env=full_env, cwd=root, start_new_session=True,
        )  # fmt: skip
        wait_http(f"{self.base}/api/suggest?q=ko", 120)

    def workers(self) -> list[int]:
        """Process ids of the worker processes."""
        try:
            text = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text()
        except OSError:
            return []
        return [int(p) for p in text.split()]

    def worker_cpu_seconds(self) -> float:
        """User and system CPU time the worker processes have used so far, in seconds."""
        ticks = os.sysconf("SC_CLK_TCK")
        total = 0.0
        for pid in self.workers():
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += (int(fields[11]) + int(fields[12])) / ticks  # utime, stime
        return total

    def worker_rss_mb(self) -> list[float]:
        """Resident memory of each worker in MB."""
        return [rss_mb(pid) for pid in self.workers()]

    def worker_private_mb(self) -> list[float]:
        """Private (anonymous) memory of each worker in MB."""
        return [private_mb(pid) for pid in self.workers()]

    def stop(self) -> None:
        """Stop the master (and so its workers)."""
        self.proc.terminate()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


# --- command line: a few endpoints, one or more versions of the code, side by side ---------------

USAGE = """\
python -m bench.loadtest [--workers 2] [--seconds 10] [--rounds 1] [--endpoint NAME]...
                         [--code DIR]...

Serve the store named by GLOSSARY_DATABASE_URL and GLOSSARY_INDEX_DIR with gunicorn and load
GET /api/lookup, /api/search and /api/suggest (or the --endpoint ones) with wrk, paths cycled
through the benchmark's query lists. Each --code DIR (a copy of the repository: the code before
and after a change) gets its own gunicorn, all started at once, and the versions take turns on
each endpoint, round after round, so that they share the machine's load alike; the last lines
give each version's median requests/s and worker CPU time per request over the rounds, and
their ratios to the first version's.
"""


def endpoint_paths() -> dict[str, list[str]]:
    """The query lists of the suite's HTTP section for the read endpoints measured here."""
    from bench import corpus

    q = corpus.build_queries(corpus.read_corpus(600))
    return {
        "lookup": [quote_path("/api/lookup", {"name": n}) for n in q.names + q.aliases],
        "search": [quote_path("/api/search", {"q": t}) for t in q.term_queries()],
        "suggest": [quote_path("/api/suggest", {"q": p}) for p in q.prefixes],
    }


def main(argv: list[str]) -> int:
    """Run the comparison the arguments ask for and print one line per measurement."""
    import argparse
    import socket
    import statistics
    import tempfile

    parser = argparse.ArgumentParser(usage=USAGE)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--endpoint", action="append", choices=("lookup", "search", "suggest"))
    parser.add_argument("--code", action="append", type=Path)
    args = parser.parse_args(argv)
    if wrk_path() is None:
        print("wrk is not installed (apt-get install -y wrk)", file=sys.stderr)
        return 2
    if not os.environ.get("GLOSSARY_DATABASE_URL") or not os.environ.get("GLOSSARY_INDEX_DIR"):
        print("set GLOSSARY_DATABASE_URL and GLOSSARY_INDEX_DIR to the store to serve",
              file=sys.stderr)  # fmt: skip
        return 2
    paths = endpoint_paths()
    names = args.endpoint or list(paths)
    codes = args.code or [ROOT]
    env = {"GLOSSARY_SECRET_KEY": "bench", "GLOSSARY_LOAD_STARTER": "false",
           "GLOSSARY_LOAD_SAMPLES": "false"}  # fmt: skip
    work = Path(tempfile.mkdtemp(prefix="glossary-loadtest-"))
    servers = []
    rates: dict[tuple[str, str], list[float]] = {}
    cpus: dict[tuple[str, str], list[float]] = {}
    try:
        for code in codes:  # all up at once: an idle worker costs nothing
            with socket.socket() as sock:
                sock.bind(("127.0.0.1", 0))
                port = sock.getsockname()[1]
            log = work / f"gunicorn-{len(servers)}.log"
            servers.append(Gunicorn(args.workers, port, env, log, root=code.resolve()))
        for server in servers:
            for name in names:
                for _ in range(5):  # each worker builds its tables and searchers first
                    r = run_wrk(server.base, paths[name], work, name, seconds=2,
                                connections=args.connections)  # fmt: skip
                    if r["requests"] >= 20 and r["p99"] < 1000 and not r["errors"]:
                        break
        # Versions take turns on each endpoint, round after round, so they share the load.
        # CPU time per request (the workers' own) moves less with the machine's load than
        # requests/s do.
        for rnd in range(args.rounds):
            for name in names:
                for code, server in zip(codes, servers, strict=True):
                    cpu = server.worker_cpu_seconds()
                    r = run_wrk(server.base, paths[name], work, name, seconds=args.seconds,
                                connections=args.connections)  # fmt: skip
                    cpu_ms = (server.worker_cpu_seconds() - cpu) * 1000 / max(r["requests"], 1)
                    rates.setdefault((str(code), name), []).append(r["rps"])
                    cpus.setdefault((str(code), name), []).append(cpu_ms)
                    print(f"round {rnd + 1} {code} {name}: {r['rps']:.0f} req/s, median "
                          f"{r['median']:.1f} ms, p99 {r['p99']:.1f} ms, max {r['max']:.0f} ms, "
                          f"errors {r['errors'] + r['non2xx']}, worker CPU {cpu_ms:.2f} "
                          f"ms/request, load {os.getloadavg()[0]:.1f}", flush=True)  # fmt: skip
    finally:
        for server in servers:
            server.stop()
    for name in names:
        first = statistics.median(rates[(str(codes[0]), name)])
        first_cpu = statistics.median(cpus[(str(codes[0]), name)])
        for code in codes:
            rate = statistics.median(rates[(str(code), name)])
            cpu_ms = statistics.median(cpus[(str(code), name)])
            print(f"{name} {code}: median {rate:.0f} req/s over {args.rounds} round(s), "
                  f"{rate / first:.2f}x the first; worker CPU {cpu_ms:.2f} ms/request, "
                  f"{cpu_ms / first_cpu:.2f}x the first")  # fmt: skip
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
