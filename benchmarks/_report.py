"""Benchmark summary: medians, paired ratios, issue-5 targets, and the Markdown results page."""

from __future__ import annotations

import os
import platform
import statistics
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

#: The contenders that count as "ours" when checking the targets.
OURS = ("chainrule-loop", "chainrule-trainer")
#: The network whose targets are stricter, and on which memory / accuracy / inference are taken.
FOCUS = "784-256-10"
#: A run whose slowest timed epoch is this many times its fastest was disturbed ...
NOISY_SPREAD = 1.5
#: ... and so was one during which other processes used this many cores on average.
DISTURBED_CORES = 0.3
#: Test accuracy whose first crossing defines "time to accuracy" (Fashion-MNIST only).
TTA_TARGET = 0.88


def _median(values: Iterable[float | None]) -> float | None:
    """Median of the non-missing values, None when there are none."""
    clean = [v for v in values if v is not None]
    return float(statistics.median(clean)) if clean else None


def _noisy(record: dict[str, Any]) -> bool:
    """Uneven epochs, or other processes busy while it ran."""
    others = record.get("others_cores", 0.0)
    return bool(record["epoch_spread"] > NOISY_SPREAD or others > DISTURBED_CORES)


def _ok(records: list[dict[str, Any]], phase: str) -> list[dict[str, Any]]:
    """The successful worker records of one phase."""
    return [r for r in records if r.get("phase") == phase and "error" not in r]


def _by_round(records: list[dict[str, Any]]) -> dict[tuple[str, int], dict[str, dict[str, Any]]]:
    """(network, round) -> contender -> record, for pairing contenders within a round."""
    table: dict[tuple[str, int], dict[str, dict[str, Any]]] = defaultdict(dict)
    for r in records:
        table[(r["network"], r["round"])][r["contender"]] = r
    return table


def _paired(
    rounds: Iterable[dict[str, dict[str, Any]]], num: str, den: str, key: str
) -> list[float]:
    """Per-round ratios record[num][key] / record[den][key] where both ran."""
    out = []
    for by_c in rounds:
        a, b = by_c.get(num), by_c.get(den)
        if a and b and a.get(key) and b.get(key):
            out.append(a[key] / b[key])
    return out


def time_to_accuracy(record: dict[str, Any], target: float = TTA_TARGET) -> float | None:
    """Cumulative training seconds (warm-up epoch included) at the first epoch >= target."""
    total = 0.0
    for seconds, acc in zip(record["epoch_seconds"], record["test_accuracy"]):
        total += seconds
        if acc is not None and acc >= target:
            return total
    return None


def summarize(records: list[dict[str, Any]], help_seconds: list[float]) -> dict[str, Any]:
    """Reduce the raw records to the figures of the results table and the target checks."""
    main = _ok(records, "main")
    rounds = _by_round(main)
    networks = list(dict.fromkeys(r["network"] for r in main))
    contenders = list(dict.fromkeys(r["contender"] for r in main))
    per_net: dict[str, dict[str, dict[str, Any]]] = {}
    for net in networks:
        net_rounds = [by_c for (n, _), by_c in rounds.items() if n == net]
        per_net[net] = {}
        for c in contenders:
            runs = [by_c[c] for by_c in net_rounds if c in by_c]
            if not runs:
                continue
            per_net[net][c] = {
                "runs": len(runs),
                "epoch_seconds": _median([r["epoch_median"] for r in runs]),
                "vs_torch_eager": _median(_paired(net_rounds, c, "torch-eager", "epoch_median")),
                "floor_fraction": _median(
                    [1.0 / x for x in _paired(net_rounds, c, "gemm-floor", "epoch_median")]
                ),
                "final_accuracy": _median([r["test_accuracy"][-1] for r in runs]),
                "inference_seconds": _median([r["inference_seconds"] for r in runs]),
                "inference_vs_torch": _median(
                    _paired(net_rounds, c, "torch-eager", "inference_seconds")
                ),
                "peak_rss_mib": _median([r["peak_rss_kib"] / 1024 for r in runs]),
                "import_seconds": _median([r["import_seconds"] for r in runs]),
                "noisy_runs": sum(_noisy(r) for r in runs),
            }
    memory = {}
    mem_runs = _ok(records, "memory")
    for c in dict.fromkeys(r["contender"] for r in mem_runs):
        runs = [r for r in mem_runs if r["contender"] == c]
        memory[c] = {
            "peak_rss_mib": _median([r["peak_rss_kib"] / 1024 for r in runs]),
            "rss_after_data_mib": _median([r["rss_after_data_kib"] / 1024 for r in runs]),
            "train_peak_mib": _median(
                [r["peak_rss_train_kib"] / 1024 for r in runs if r.get("peak_rss_train_kib")]
            ),
            "above_data_mib": _median(
                [(r["peak_rss_kib"] - r["rss_after_data_kib"]) / 1024 for r in runs]
            ),
            "epochs": runs[0]["epochs"],
        }
    tta: dict[str, Any] = {}
    tta_rounds = _by_round(_ok(records, "tta"))
    for c in dict.fromkeys(r["contender"] for r in _ok(records, "tta")):
        runs = [by_c[c] for by_c in tta_rounds.values() if c in by_c]
        times = [time_to_accuracy(r) for r in runs]
        ratios = []
        for by_c in tta_rounds.values():
            if c in by_c and "torch-eager" in by_c:
                ours, theirs = time_to_accuracy(by_c[c]), time_to_accuracy(by_c["torch-eager"])
                if ours is not None and theirs is not None:
                    ratios.append(ours / theirs)
        tta[c] = {
            "seconds": _median([t for t in times if t is not None]),
            "reached": sum(t is not None for t in times),
            "runs": len(runs),
            "epochs_to_target": _median(
                [
                    next((i + 1 for i, a in enumerate(r["test_accuracy"]) if a >= TTA_TARGET), None)
                    for r in runs
                ]
            ),
            "best_accuracy": _median([max(r["test_accuracy"]) for r in runs]),
            "vs_torch_eager": _median(ratios),
        }
    summary: dict[str, Any] = {
        "per_network": per_net,
        "memory": memory,
        "time_to_accuracy": tta,
        "help_seconds": _median(help_seconds),
        "help_runs": help_seconds,
    }
    summary["targets"] = check_targets(summary)
    return summary


def _target(name: str, measured: float | None, op: str, limit: float) -> dict[str, Any]:
    """One target line; measured None means it could not be measured in this run."""
    if measured is None:
        verdict = "n/a"
    else:
        verdict = "PASS" if (measured <= limit if op == "<=" else measured >= limit) else "FAIL"
    return {"target": name, "measured": measured, "op": op, "limit": limit, "verdict": verdict}


def check_targets(summary: dict[str, Any]) -> list[dict[str, Any]]:
    """The targets of issue 5, each with PASS / FAIL / n/a."""
    out = []
    for net, by_c in summary["per_network"].items():
        strict = net == FOCUS
        for c in OURS:
            stats = by_c.get(c)
            if stats is None:
                continue
            out.append(
                _target(
                    f"{c} epoch / torch-eager epoch, {net}",
                    stats["vs_torch_eager"],
                    "<=",
                    0.75 if strict else 0.9,
                )
            )
            out.append(
                _target(
                    f"{c} GEMM floor / epoch, {net}",
                    stats["floor_fraction"],
                    ">=",
                    0.65 if strict else 0.75,
                )
            )
    mem = summary["memory"]
    for c in OURS:
        if c in mem:
            ratio = None
            if "torch-eager" in mem:
                ratio = mem[c]["peak_rss_mib"] / mem["torch-eager"]["peak_rss_mib"]
            out.append(_target(f"{c} peak RSS / torch-eager, {FOCUS}", ratio, "<=", 0.5))
    for c in OURS:
        stats = summary["per_network"].get(FOCUS, {}).get(c)
        if stats is not None:
            out.append(
                _target(
                    f"{c} inference / torch no_grad, {FOCUS}",
                    stats["inference_vs_torch"],
                    "<=",
                    0.75,
                )
            )
    if summary["help_seconds"] is not None:
        out.append(_target("`chainrule --help` seconds", summary["help_seconds"], "<=", 0.3))
    return out


def _fmt(value: float | None, spec: str = ".3f", suffix: str = "") -> str:
    """A figure for the table, '-' when missing."""
    return "-" if value is None else f"{value:{spec}}{suffix}"


def _optimizer(meta: dict[str, Any]) -> str:
    """The optimizer line of the set-up: SGD (the issue's) unless the run chose Adam."""
    if meta.get("optimizer", "sgd") == "adam":
        return f"Adam lr {meta['lr']} (default betas and eps)"
    return f"SGD lr {meta['lr']} momentum {meta['momentum']}"


def markdown(summary: dict[str, Any], meta: dict[str, Any]) -> str:
    """The results page: setup, one table per network, memory, accuracy, start-up, targets."""
    lines = [
        f"Measured {meta['date']} on {meta['machine']}, {meta['threads']} threads "
        f"(OMP/OPENBLAS/MKL_NUM_THREADS), batch {meta['batch_size']}, {_optimizer(meta)}, "
        "float32.",
        f"Data: {meta['data']}. Rounds: {meta['rounds']} (contenders alternated, each run a fresh "
        f"process), {meta['epochs']} epochs per run, the first one a warm-up.",
        f"Versions: {meta['versions']}. BLAS: {meta['blas']}. Environment: {meta['env']}.",
        f"Other processes during the runs: median {meta['others_cores_median']:.2f} cores, "
        f"max {meta['others_cores_max']:.2f}; {meta['disturbed_runs']} of {meta['runs']} kept "
        f"runs had others above {DISTURBED_CORES} cores ({meta['retried_runs']} retried, "
        f"{meta['waited_minutes']} min waited for quiet). Total {meta['minutes']} min.",
        "",
    ]
    if meta.get("notes"):
        lines += [f"Note: {n}" for n in meta["notes"]] + [""]
    for net, by_c in summary["per_network"].items():
        lines += [
            f"### {net}",
            "",
            "| contender | s / epoch | x torch-eager | floor / ours | test acc | inference s "
            "| inference x torch | peak RSS MiB | noisy runs |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for c, s in by_c.items():
            lines.append(
                f"| {c} | {_fmt(s['epoch_seconds'])} | {_fmt(s['vs_torch_eager'], '.2f')} "
                f"| {_fmt(s['floor_fraction'], '.2f')} | {_fmt(s['final_accuracy'], '.4f')} "
                f"| {_fmt(s['inference_seconds'], '.4f')} "
                f"| {_fmt(s['inference_vs_torch'], '.2f')} | {_fmt(s['peak_rss_mib'], '.0f')} "
                f"| {s['noisy_runs']}/{s['runs']} |"
            )
        lines.append("")
    if summary["memory"]:
        lines += [
            f"### Peak memory, {FOCUS}",
            "",
            "| contender | epochs | peak RSS MiB | RSS after loading data MiB "
            "| peak above that MiB | peak during epoch 1 MiB |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        for c, m in summary["memory"].items():
            lines.append(
                f"| {c} | {m['epochs']} | {_fmt(m['peak_rss_mib'], '.0f')} "
                f"| {_fmt(m['rss_after_data_mib'], '.0f')} | {_fmt(m['above_data_mib'], '.0f')} "
                f"| {_fmt(m.get('train_peak_mib'), '.0f')} |"
            )
        lines += [
            "",
            "Peak RSS is the whole process's, the full-test-set evaluation after each epoch "
            "included; the last column is the peak at the end of epoch 1, before any "
            "evaluation (training alone).",
        ]
        lines.append("")
    if summary["time_to_accuracy"]:
        lines += [
            f"### Time to {TTA_TARGET:.0%} test accuracy, {FOCUS}",
            "",
            "| contender | seconds (warm-up epoch included) | x torch-eager | epochs | reached "
            "| best acc |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        for c, t in summary["time_to_accuracy"].items():
            lines.append(
                f"| {c} | {_fmt(t['seconds'], '.2f')} | {_fmt(t['vs_torch_eager'], '.2f')} "
                f"| {_fmt(t['epochs_to_target'], '.0f')} | {t['reached']}/{t['runs']} "
                f"| {_fmt(t['best_accuracy'], '.4f')} |"
            )
        lines.append("")
    if summary["help_seconds"] is not None:
        lines += [
            f"`chainrule --help`: {summary['help_seconds']:.3f} s "
            f"(median of {len(summary['help_runs'])} runs).",
            "",
        ]
    lines += [
        "### Targets of issue 5",
        "",
    ]
    if meta.get("optimizer", "sgd") != "sgd":
        lines += ["The targets are set for SGD with momentum; this run used Adam.", ""]
    lines += [
        "| target | measured | limit | verdict |",
        "|---|---:|---:|---|",
    ]
    for t in summary["targets"]:
        lines.append(
            f"| {t['target']} | {_fmt(t['measured'], '.3f')} | {t['op']} {t['limit']} "
            f"| {t['verdict']} |"
        )
    return "\n".join(lines) + "\n"


# -- the setup line of the page ----------------------------------------------------------------
def machine() -> str:
    """CPU model and core count."""
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{model}, {os.cpu_count()} logical CPUs"


def versions(records: list[dict[str, Any]]) -> dict[str, str]:
    """Union of the library versions the workers reported."""
    out: dict[str, str] = {}
    for r in records:
        out.update({k: v for k, v in r["versions"].items() if not k.startswith("torch_")})
    return out


def blas(records: list[dict[str, Any]]) -> str:
    """The BLAS pools seen per interpreter, in one line."""
    seen: dict[str, str] = {}
    for r in records:
        pools = r["blas"].get("pools")
        if pools is None:
            desc = str(r["blas"].get("blas", {}).get("name", "?"))
        else:
            desc = ", ".join(
                f"{p['internal_api']} {p['version']} {p.get('architecture')} x{p['num_threads']}"
                for p in pools
            )
        if "torch_blas" in r["versions"]:
            desc = f"torch: {r['versions']['torch_blas']} x{r['versions']['torch_threads']}"
        seen.setdefault(Path(r["executable"]).parent.parent.name, desc)
    return "; ".join(f"{k}: {v}" for k, v in seen.items())
