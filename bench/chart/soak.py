"""A soak run over time, from `cargo xtask soak`'s samples.

Usage: python soak.py <soak.jsonl> <out.png> [title]

Each input line is one sample: `height`, `finalized`, `finality_lag`, `db_bytes`,
`rss_bytes`, `cpu` (cores). Four panels against the head's height: database size, resident
memory, CPU, and finality lag in blocks.
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
            if line.startswith("{"):
                rows.append(json.loads(line))
    if not rows:
        sys.exit(f"soak chart: no samples in {src}")
    height = [r["height"] for r in rows]
    panels = [
        ("database (MB)", [r["db_bytes"] / 1e6 for r in rows]),
        ("resident memory (MB)", [r["rss_bytes"] / 1e6 for r in rows]),
        ("CPU (cores)", [r["cpu"] for r in rows]),
        ("finality lag (blocks)", [r["finality_lag"] for r in rows]),
    ]
    fig, axes = plt.subplots(4, 1, figsize=(8, 10), sharex=True)
    for ax, (label, values) in zip(axes, panels):
        ax.plot(height, values, linewidth=1.2)
        ax.set_ylabel(label)
        ax.set_ylim(bottom=0)
        ax.grid(True, alpha=0.3)
    axes[-1].set_xlabel("head height (blocks)")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(out, dpi=110)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else "soak")
