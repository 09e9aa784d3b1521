"""Relay throughput and accept latency against offered load, from memecoin-load's report.

Usage: python chart.py <load.jsonl> <out.png> [title]

Each line of the input is one JSON object memecoin-load printed for one offered rate
(`offered_per_s`, `accepted_per_s`, `latency_ms.p50`, `latency_ms.p99`); other lines (the
fan-out and propagation reports) are skipped. Run by `cargo xtask bench`.
"""

import json
import sys

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402


def main(src, out, title):
    rows = []
    with open(src) as f:
        for line in f:
            line = line.strip()
            if not line.startswith("{"):
                continue
            row = json.loads(line)
            if "offered_per_s" in row:
                rows.append(row)
    if not rows:
        sys.exit(f"chart: no load rows in {src}")
    rows.sort(key=lambda r: r["offered_per_s"])
    offered = [r["offered_per_s"] for r in rows]
    accepted = [r["accepted_per_s"] for r in rows]
    p50 = [r["latency_ms"]["p50"] for r in rows]
    p99 = [r["latency_ms"]["p99"] for r in rows]

    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4), dpi=120)
    left.plot(offered, offered, linestyle=":", color="grey", label="offered")
    left.plot(offered, accepted, marker="o", label="accepted")
    left.set_xlabel("offered transfers / s")
    left.set_ylabel("accepted transfers / s")
    left.set_title("throughput")
    left.grid(alpha=0.3)
    left.legend()

    right.plot(offered, p50, marker="o", label="p50")
    right.plot(offered, p99, marker="s", label="p99")
    right.set_yscale("log")
    right.set_xlabel("offered transfers / s")
    right.set_ylabel("accept latency (ms)")
    right.set_title("latency of submit_tx -> tx_result")
    right.grid(alpha=0.3, which="both")
    right.legend()

    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(out)
    print(f"chart: wrote {out} ({len(rows)} rates)")


if __name__ == "__main__":
    if len(sys.argv) not in (3, 4):
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2], sys.argv[3] if len(sys.argv) == 4 else "relay under load")
