"""make soak: a few minutes of mixed calls at the rate limit; RSS and open files must stay flat.

    python bench/soak.py [--seconds 180] [--rate 600] [--warmup 20]

warden-postgres (on a private PostgreSQL cluster) and warden-github (on the fake GitHub API) run as
real HTTP processes. Every tool stream is called at the servers' rate limit (`--rate` calls per
minute, per principal and tool), mixing answers with refusals. RSS and open file descriptors of
each process are sampled every second; the first and last fifth of the samples (medians) are
compared. Exit status 1 if either grows by more than 10 %.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the soak engine lives with the test support code

from tests.support import soak  # noqa: E402

TOLERANCE = 0.10


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=180.0, help="how long to measure (after warm-up)")
    parser.add_argument("--rate", type=int, default=600, help="calls per minute per tool stream (the rate limit)")
    parser.add_argument("--warmup", type=float, default=20.0, help="seconds of load before measuring")
    args = parser.parse_args()

    def progress(elapsed: float, report: soak.Report) -> None:
        if int(elapsed) % 30 == 0:
            done = sum(report.calls.values())
            print(f"[{elapsed:6.0f} s] {done} calls", file=sys.stderr, flush=True)

    with tempfile.TemporaryDirectory(prefix="warden-soak-") as tmp:
        report = soak.run(
            Path(tmp), seconds=args.seconds, per_tool_per_minute=args.rate, warmup=args.warmup, progress=progress
        )

    streams = len(soak.STREAMS)
    print(f"\nSoak: {args.seconds:g} s after {args.warmup:g} s warm-up, {streams} streams at {args.rate}/minute each")
    print(f"calls: {dict(sorted(report.calls.items()))}")
    header = ("server", "RSS start", "RSS end", "growth", "FDs start", "FDs end", "growth")
    print("{:<10} {:>10} {:>10} {:>8} {:>10} {:>8} {:>8}".format(*header))
    ok = not report.unexpected
    for server in report.samples:
        f = report.figures(server)
        print(
            f"{server:<10} {f['rss_start_mib']:>8.1f} M {f['rss_end_mib']:>8.1f} M {f['rss_growth']:>+7.1%} "
            f"{f['fds_start']:>10.0f} {f['fds_end']:>8.0f} {f['fds_growth']:>+7.1%}"
        )
        ok = ok and report.flat(server, TOLERANCE)
    print("RSS (MiB) through the run, at each tenth:")
    for server, samples in report.samples.items():
        points = [samples[min(len(samples) - 1, i * len(samples) // 10)] for i in range(11)]
        print(f"  {server:<10} " + " ".join(f"{p.rss / 2**20:.1f}" for p in points))
    for line in report.unexpected:
        print(f"unexpected answer: {line}")
    print("flat (within 10 %)" if ok else "NOT FLAT, or unexpected answers")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
