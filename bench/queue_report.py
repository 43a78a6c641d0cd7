"""The queue's report: a summary table, the records and the logs of a plan's runs, written to $OUT.

Why a module of its own: bench/gpu_queue.py schedules runs; what a call brings back (at most 8 files)
is a separate concern, and both stay small. Reads the records gpu_queue.py writes under $STATE.
"""

from __future__ import annotations

import io
import json
import math
import re
import statistics
import tarfile
from pathlib import Path
from typing import Any


def pick(reported: dict[str, Any] | None, *names: str) -> float | None:
    if not isinstance(reported, dict):
        return None
    for name in names:
        value = reported.get(name)
        if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
            return float(value)
    return None


def summary(plan: dict[str, Any], state: Path) -> str:
    records = {p.stem: json.loads(p.read_text()) for p in sorted((state / "runs").glob("*.json"))}
    lines = ["| key | GPU | status | PSNR | SSIM | Gaussians | train s | process s | peak GiB |",
             "|---|---|---|---:|---:|---:|---:|---:|---:|"]  # fmt: skip
    for key, r in records.items():
        rep = r.get("reported")
        psnr, ssim = pick(rep, "psnr"), pick(rep, "ssim")
        n, train = pick(rep, "num_gaussians", "num_GS"), pick(rep, "train_s", "train_seconds")
        mem = pick(rep, "peak_mem_gib")
        shared = " (shared: times not comparable)" if r.get("gpu_shared") else ""

        def fmt(v: float | None, spec: str) -> str:
            return "n/a" if v is None else format(v, spec)

        lines.append(
            f"| {key} | {r.get('gpu')}{shared} | {r['status']} | {fmt(psnr, '.2f')} | {fmt(ssim, '.4f')} | "
            f"{fmt(n, ',.0f')} | {fmt(train, '.1f')} | {r['process_wall_s']:.1f} | {fmt(mem, '.2f')} |"
        )
    pairs = plan.get("pairs", [])
    if pairs:
        lines += ["", "| ours | theirs | ΔPSNR dB | train s ratio | peak mem ratio |", "|---|---|---:|---:|---:|"]
        for ours_key, theirs_key in pairs:
            o, t = records.get(ours_key), records.get(theirs_key)
            if not (o and t and o["status"] == t["status"] == "ok"):
                lines.append(f"| {ours_key} | {theirs_key} | not both done | | |")
                continue
            ro, rt = o["reported"], t["reported"]

            def ratio(name: str, spec: str, diff: bool = False, ro: Any = ro, rt: Any = rt) -> str:
                a, b = pick(ro, name), pick(rt, name)
                if a is None or b is None or (not diff and b == 0):
                    return "n/a"
                return format(a - b if diff else a / b, spec)

            lines.append(
                f"| {ours_key} | {theirs_key} | {ratio('psnr', '+.2f', diff=True)} | "
                f"{ratio('train_s', '.3f')} | {ratio('peak_mem_gib', '.2f')} |"
            )
        lines += repeated(records, pairs)
    return "\n".join(lines) + "\n"


def comparison(key: str) -> str:
    """A pair's comparison without its repeat suffix: fox__7000__ours__splatfacto-s1 -> fox__7000__ours__splatfacto."""
    return re.sub(r"-(s|r)\d+$", "", key)


def repeated(records: dict[str, Any], pairs: list[list[str]]) -> list[str]:
    """Mean and spread over the repeats of each comparison (seeds for ours, repeats for the peer)."""
    groups: dict[tuple[str, str], list[tuple[dict, dict]]] = {}
    for ours_key, theirs_key in pairs:
        o, t = records.get(ours_key), records.get(theirs_key)
        if o and t and o["status"] == t["status"] == "ok":
            groups.setdefault((comparison(ours_key), comparison(theirs_key)), []).append((o["reported"], t["reported"]))
    if not any(len(v) > 1 for v in groups.values()):
        return []
    header = "| ours | theirs | runs | PSNR ours mean ± sd | PSNR theirs mean ± sd | Δ mean dB | train s ratio |"
    lines = ["", header, "|---|---|---:|---|---|---:|---:|"]
    for (ours_key, theirs_key), runs in groups.items():
        po = [pick(o, "psnr") for o, _ in runs]
        pt = [pick(t, "psnr") for _, t in runs]
        to = [pick(o, "train_s") for o, _ in runs]
        tt = [pick(t, "train_s") for _, t in runs]
        if None in po + pt + to + tt:
            continue

        def mean_sd(values: list) -> str:
            if len(values) == 1:
                return f"{values[0]:.2f}"
            return f"{statistics.mean(values):.2f} ± {statistics.stdev(values):.2f}"

        lines.append(
            f"| {ours_key} | {theirs_key} | {len(runs)} | {mean_sd(po)} | {mean_sd(pt)} | "
            f"{statistics.mean(po) - statistics.mean(pt):+.2f} | {statistics.mean(to) / statistics.mean(tt):.3f} |"
        )
    return lines


def pack(plan: dict[str, Any], out: Path, state: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "summary.md").write_text(summary(plan, state))
    records = [json.loads(p.read_text()) for p in sorted((state / "runs").glob("*.json"))]
    (out / "results.json").write_text(json.dumps(records, indent=2))
    with tarfile.open(out / "logs.tgz", "w:gz") as tar:
        for path in sorted((state / "logs").glob("*.log*")):  # .log.N: a failed first attempt
            tail = "\n".join(path.read_text(errors="replace").splitlines()[-150:])
            info = tarfile.TarInfo(path.name)
            data = tail.encode()
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for profile in sorted((state / "results").glob("*/profile.txt")):  # engine setting profile_steps
            tar.add(profile, arcname=f"{profile.parent.name}.profile.txt")
        for extra in ("setup_scenes.log", "setup.log", "scheduler.log"):
            if (state / extra).exists():
                tar.add(state / extra, arcname=extra)
        if (state / "setup_out" / "gpu_compare.log").exists():
            tar.add(state / "setup_out" / "gpu_compare.log", arcname="gpu_compare.log")
