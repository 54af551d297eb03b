#!/usr/bin/env python3
"""Draws bench/run's results as a PNG: MB/s by scenario and contender, and p99 latency.

  bench/chart.py bench/results/<timestamp>.json [out.png]

Needs matplotlib (bench only): python3 -m venv .cache/bench-venv &&
.cache/bench-venv/bin/pip install matplotlib; bench/run uses that venv when it exists.
"""
import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

COLORS = {"limit": "#999999", "kmirror": "#1f77b4", "kmirror-eos": "#17becf", "mm2": "#d62728"}
OTHERS = ["#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2"]  # --variant contenders


def color(c, seen=[]):  # noqa: B006 (stable colour per variant name within one chart)
    if c in COLORS:
        return COLORS[c]
    if c not in seen:
        seen.append(c)
    return OTHERS[seen.index(c) % len(OTHERS)]


def main():
    src = sys.argv[1]
    out = sys.argv[2] if len(sys.argv) > 2 else src.rsplit(".", 1)[0] + ".png"
    with open(src) as f:
        d = json.load(f)
    med = d["medians"]
    scen = [s for s in med if s not in ("latency", "many")]
    contenders = []
    for s in scen:
        for c in med[s]:
            if c not in contenders:
                contenders.append(c)
    lat = med.get("latency", {})
    fig, axes = plt.subplots(1, 2 if lat else 1, figsize=(12 if lat else 9, 4.5),
                             gridspec_kw={"width_ratios": [3, 1]} if lat else None)
    ax = axes[0] if lat else axes
    width = 0.8 / max(1, len(contenders))
    for i, c in enumerate(contenders):
        xs = [j + i * width for j in range(len(scen))]
        ys = [med[s].get(c, {}).get("mb_per_s") or 0 for s in scen]
        ax.bar(xs, ys, width, label=c, color=color(c))
    ax.set_xticks([j + width * (len(contenders) - 1) / 2 for j in range(len(scen))])
    ax.set_xticklabels(scen)
    ax.set_ylabel("MB/s (median, whole copy)")
    ax.set_title("Throughput by scenario")
    ax.legend(fontsize=8)
    if lat:
        names = list(lat)
        p99 = [lat[c].get("p99_ms") or 0 for c in names]
        axes[1].bar(names, p99, color=[color(c) for c in names])
        axes[1].set_yscale("log")
        axes[1].set_ylabel("p99 latency, ms (log)")
        axes[1].set_title(f"Latency at {d.get('latency_rate') or '?'} records/s")
        axes[1].tick_params(axis="x", labelrotation=30)
    fig.suptitle(d.get("command", ""), fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    print(out)


if __name__ == "__main__":
    main()
