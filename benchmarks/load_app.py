"""Load the web app the way a crowd would: concurrent requests to every tab's endpoint, on loopback only.

    python benchmarks/load_app.py [--requests 20] [--concurrency 20] [--large]

Starts ``python app.py``'s app (``faceforge.demo.launch_app``) in a child process on 127.0.0.1, then, for
every named endpoint the app's API lists, sends ``--requests`` requests ``--concurrency`` at a time with
``gradio_client`` and prints how many were answered, refused (the queue is full: the app's bound) and failed,
the p50 / p95 latency of the answered ones, and the server's peak memory (its own high-water mark, reset
between phases). An endpoint without a sample request below is an error: a new tab adds one to ``sample_requests``.

``--large`` first restores a generated 48-megapixel JPEG (a real face, scikit-image's astronaut, in an
8000x6000 photo) on the fresh server: once, then twice at the same time, and prints the server's peak memory
against the goals (1.5 GB for one, 2.5 GB for two concurrent); the load phases follow.

Bounded: at most ``--requests`` requests per endpoint, each waited for at most ``--timeout`` seconds; the
server is stopped at the end. Exit status 1 when a request failed (a refusal by the full queue is not a
failure) or a memory goal was missed.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
GOALS_GB = {"one 48-MP photo": 1.5, "two 48-MP photos at once": 2.5}


def sample_requests(handle_file) -> dict[str, tuple]:
    """One typical request per endpoint (``api_name`` -> positional arguments)."""
    from faceforge.demo.examples import example_path
    from faceforge.face.aus import FACEFORGE_AUS

    return {
        "/restore": (handle_file(example_path("synthetic-group.png")), "mpenet", "degrade", False, 1),
        "/recognize": (handle_file(example_path("synthetic-small-faces.png")), 8, False, False),
        "/edit": (handle_file(example_path("synthetic-group.png")), "expression", "surprise", 1.0,
                  *([0.0] * len(FACEFORGE_AUS))),
        "/magnify": (handle_file(example_path("synthetic-weak.png")),),
        "/render_synthetic": ("v2", "happiness", 0.8, 1800, 5, 0, 0, True, *([0.0] * len(FACEFORGE_AUS))),
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(port: int) -> subprocess.Popen:
    code = ("from faceforge.demo import launch_app; "
            f"launch_app(server_name='127.0.0.1', server_port={port}, quiet=True)")
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_OFFLINE": "1"}
    return subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)


def wait_until_up(url: str, server: subprocess.Popen, timeout: float = 180) -> None:
    import httpx

    deadline = time.time() + timeout
    while time.time() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"the app exited with {server.returncode}: {server.stderr.read()[-2000:]}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise SystemExit(f"the app did not answer at {url} within {timeout:.0f} s")


def reset_peak(pid: int) -> None:
    """Reset the process's peak-RSS mark (Linux: writing 5 to /proc/PID/clear_refs)."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        pass


def peak_gb(pid: int) -> float:
    """The process's peak resident memory since the last reset (VmHWM), in GB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024 / 1e9
    return float("nan")


def run_phase(url: str, api_name: str, args: tuple, *, requests: int, concurrency: int, timeout: float) -> dict:
    from gradio_client import Client

    client = Client(url, verbose=False)

    def one(_):
        start = time.perf_counter()
        try:
            client.submit(*args, api_name=api_name).result(timeout=timeout)
            return "answered", time.perf_counter() - start, ""
        except Exception as err:  # noqa: BLE001  (counted and shown)
            text = str(err)
            kind = "refused" if "queue is full" in text.lower() else "failed"
            return kind, time.perf_counter() - start, text[:200]

    with concurrent.futures.ThreadPoolExecutor(max_workers=concurrency) as pool:
        results = list(pool.map(one, range(requests)))
    latencies = np.array([t for kind, t, _ in results if kind == "answered"])
    return {
        "answered": sum(k == "answered" for k, _, _ in results),
        "refused": sum(k == "refused" for k, _, _ in results),
        "failed": sum(k == "failed" for k, _, _ in results),
        "p50": float(np.percentile(latencies, 50)) if len(latencies) else float("nan"),
        "p95": float(np.percentile(latencies, 95)) if len(latencies) else float("nan"),
        "errors": sorted({m for k, _, m in results if k == "failed"}),
    }


def large_photo(folder: Path) -> Path:
    """An 8000x6000 JPEG with the astronaut's face at a size a phone photo gives it."""
    from PIL import Image
    from skimage import data

    rng = np.random.default_rng(0)
    canvas = (rng.integers(90, 150, (6000 // 8, 8000 // 8, 3), dtype=np.uint8))
    photo = Image.fromarray(canvas).resize((8000, 6000), Image.Resampling.BILINEAR)
    face = Image.fromarray(data.astronaut()).resize((2048, 2048), Image.Resampling.BICUBIC)
    photo.paste(face, (3000, 1500))
    path = folder / "large-48mp.jpg"
    photo.save(path, quality=90)
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=20, help="requests per endpoint")
    parser.add_argument("--concurrency", type=int, default=20, help="requests in flight at once")
    parser.add_argument("--timeout", type=float, default=300, help="seconds one request may take")
    parser.add_argument("--large", action="store_true", help="also restore 48-megapixel photos (memory goals)")
    args = parser.parse_args()
    if not 1 <= args.concurrency <= 64 or not 1 <= args.requests <= 500:
        raise SystemExit("--concurrency must be 1-64 and --requests 1-500 (this is a bounded load test)")

    from gradio_client import Client, handle_file

    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    server = start_server(port)
    bad = False
    try:
        wait_until_up(url, server)
        cpu = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                    if ln.startswith("model name")), "CPU")
        print(f"app at {url} (pid {server.pid}); {os.cpu_count()} cores ({cpu}); "
              f"{args.requests} requests per endpoint, {args.concurrency} at a time")
        endpoints = sorted(Client(url, verbose=False).view_api(return_format="dict", print_info=False)
                           ["named_endpoints"])
        samples = sample_requests(handle_file)
        missing = [e for e in endpoints if e not in samples]
        if missing:
            raise SystemExit(f"no sample request for {missing}: add one to sample_requests() in benchmarks/load_app.py")
        if args.large:
            with tempfile.TemporaryDirectory() as tmp:
                photo = handle_file(str(large_photo(Path(tmp))))
                for (label, goal), n in zip(GOALS_GB.items(), (1, 2), strict=True):
                    reset_peak(server.pid)
                    r = run_phase(url, "/restore", (photo, "mpenet", "degrade", False, 1), requests=n,
                                  concurrency=n, timeout=args.timeout)
                    peak = peak_gb(server.pid)
                    verdict = "met" if peak <= goal and r["answered"] == n else "MISSED"
                    print(f"{label}: {r['answered']}/{n} answered in {r['p95']:.1f} s, server peak {peak:.2f} GB "
                          f"(goal <= {goal} GB: {verdict})")
                    for message in r["errors"]:
                        print(f"  failed: {message}")
                    bad |= verdict != "met"
        print(f"{'endpoint':<20} {'answered':>8} {'refused':>8} {'failed':>7} {'p50 s':>7} {'p95 s':>7} "
              f"{'peak GB':>8}")
        for endpoint in endpoints:
            reset_peak(server.pid)
            r = run_phase(url, endpoint, samples[endpoint], requests=args.requests, concurrency=args.concurrency,
                          timeout=args.timeout)
            print(f"{endpoint:<20} {r['answered']:>8} {r['refused']:>8} {r['failed']:>7} {r['p50']:>7.2f} "
                  f"{r['p95']:>7.2f} {peak_gb(server.pid):>8.2f}")
            for message in r["errors"]:
                print(f"  failed: {message}")
            bad |= r["failed"] > 0
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
