"""The results of a finished comparison: per run, per variant (mean, sample std over seeds)
and, against the baseline of the same seed, sacreBLEU's p-values; into a fresh
``<out>/results/<name>-<timestamp>/``: table.md, table.json and curves.png."""

import os
import statistics
import time
from pathlib import Path
from typing import List

from rdrop_recipes.comparison.consoles import training_seconds
from rdrop_recipes.comparison.plan import Run, Settings
from rdrop_recipes.comparison.run_state import evaluation
from rdrop_recipes.config import recipe_config
from rdrop_recipes.evaluation.scoring import paired_p_values, scored_texts
from rdrop_recipes.evaluation.training_curves import parse_log, plot
from rdrop_recipes.folders import results_dirs
from rdrop_recipes.folders.atomic_files import read_json, write_json
from rdrop_recipes.folders.markers import SCORES
from rdrop_recipes.process.errors import RecipeError


def run_record(run: Run, log) -> dict:
    """A finished run's line of the table; ``log`` its parsed train.log."""
    folder = evaluation(run)
    scores = read_json(os.path.join(folder, SCORES))
    best = min(log.series("valid", "loss"), key=lambda point: point[1], default=(None, None))
    return {
        "run": run.name,
        "variant": run.variant,
        "seed": run.seed,
        "bleu": scores["bleu"]["score"],
        "bleu_kind": scores["bleu"]["kind"],
        "bleu_signature": scores["bleu"]["signature"],
        "best_valid_loss": best[1],
        "best_valid_update": best[0],
        "updates": max(log.train_records(), default=None),
        "train_wall_seconds": training_seconds(run.train_console),
        "evaluation": folder,
        "save_dir": run.folder,
    }


def significance_tests(records, settings: Settings) -> List[dict]:
    lowercase = bool(recipe_config.load(settings.eval_config).get("recipe", {}).get("lowercase", False))
    by_key = {(r["variant"], r["seed"]): r for r in records}
    tests = []
    for r in records:
        base = by_key.get((settings.baseline, r["seed"]))
        if r["variant"] == settings.baseline or base is None:
            continue
        base_hyps, references = scored_texts(base["evaluation"])
        hyps, system_references = scored_texts(r["evaluation"])
        if system_references != references:
            raise RecipeError(
                f"{r['run']} and {base['run']} were evaluated on different references; "
                "compare runs on the same test set"
            )
        result = paired_p_values(
            base_hyps, hyps, references, lowercase, settings.bootstrap_samples, settings.ar_trials
        )
        tests.append({"variant": r["variant"], "seed": r["seed"], "baseline": base["run"], **result})
    return tests


def summarize(records, tests, variants, baseline) -> List[dict]:
    rows = []
    for variant in variants:
        mine = sorted((r for r in records if r["variant"] == variant), key=lambda r: r["seed"])
        bleus = [r["bleu"] for r in mine]
        losses = [r["best_valid_loss"] for r in mine if r["best_valid_loss"] is not None]
        walls = [r["train_wall_seconds"] for r in mine if r["train_wall_seconds"] is not None]
        row = {
            "variant": variant,
            "seeds": [r["seed"] for r in mine],
            "bleu": bleus,
            "bleu_mean": round(statistics.mean(bleus), 2),
            "bleu_std": round(statistics.stdev(bleus), 2) if len(bleus) > 1 else None,
            "best_valid_loss": losses,
            "best_valid_loss_mean": round(statistics.mean(losses), 3) if losses else None,
            "train_wall_seconds_mean": round(statistics.mean(walls), 1) if walls else None,
        }
        if variant != baseline:
            mine_tests = sorted((t for t in tests if t["variant"] == variant), key=lambda t: t["seed"])
            row["p_bootstrap"] = [t["p_bootstrap"] for t in mine_tests]
            row["p_ar"] = [t["p_ar"] for t in mine_tests]
        rows.append(row)
    return rows


def loss(value) -> str:
    return "–" if value is None else f"{value:.3f}"


def p_value(p: float) -> str:
    # 4 decimals: the smallest p of 10,000 AR trials is 1/10,001 = 0.0001, which 3 would show as 0
    return f"{p:.4f}"


def minutes(seconds) -> str:
    return "–" if seconds is None else f"{seconds / 60:.1f} min"


def markdown(table: dict) -> str:
    """table.json's content as table.md."""
    baseline, records = table["baseline"], table["runs"]
    lines = [
        f"# {table['name']}",
        "",
        f"Test-set {records[0]['bleu_kind']} (`{records[0]['bleu_signature']}`).",
        f"p-values: sacreBLEU's paired bootstrap ({table['bootstrap_samples']} resamples) and approximate "
        f"randomization ({table['ar_trials']} trials), each seed against `{baseline}` of the same seed. "
        "std is the sample standard deviation over seeds.",
        "",
        "| variant | BLEU per seed | BLEU mean ± std | best valid loss (mean) | train wall per run (mean) "
        f"| p paired bootstrap vs {baseline} | p approx. randomization vs {baseline} |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in table["variants"]:
        per_seed = " / ".join(f"{b:.2f}" for b in row["bleu"])
        std = f" ± {row['bleu_std']:.2f}" if row["bleu_std"] is not None else ""
        p_bs = " / ".join(p_value(p) for p in row.get("p_bootstrap", [])) or "–"
        p_ar = " / ".join(p_value(p) for p in row.get("p_ar", [])) or "–"
        lines.append(
            f"| {row['variant']} | {per_seed} | {row['bleu_mean']:.2f}{std} | "
            f"{loss(row['best_valid_loss_mean'])} | {minutes(row['train_wall_seconds_mean'])} | "
            f"{p_bs} | {p_ar} |"
        )
    lines += [
        "",
        "| run | seed | BLEU | best valid loss (at update) | updates | train wall |",
        "|---|---|---|---|---|---|",
    ]
    for r in records:
        lines.append(
            f"| {r['run']} | {r['seed']} | {r['bleu']:.2f} | {loss(r['best_valid_loss'])} "
            f"({r['best_valid_update']}) | {r['updates']} | {minutes(r['train_wall_seconds'])} |"
        )
    lines += ["", "Runs: " + ", ".join(f"`{r['save_dir']}`" for r in records), ""]
    lines += ["Command:", "", "```", table["command"], "```", ""]
    return "\n".join(lines)


def write_results(runs: List[Run], variants, settings: Settings, started: float, say) -> str:
    """The published results folder of ``runs`` (every one finished)."""
    logs = [parse_log(run.folder, run.name) for run in runs]
    records = [run_record(run, log) for run, log in zip(runs, logs)]
    say(
        f"significance tests against {settings.baseline} "
        "(sacreBLEU paired bootstrap + approximate randomization)"
    )
    tests = significance_tests(records, settings)
    table = {
        "name": settings.name,
        "created": results_dirs.now(),
        "command": settings.command,
        "train_config": settings.config,
        "eval_config": settings.eval_config,
        "data": settings.data,
        "baseline": settings.baseline,
        "bootstrap_samples": settings.bootstrap_samples,
        "ar_trials": settings.ar_trials,
        "seconds_this_invocation": round(time.time() - started, 1),
        "variants": summarize(records, tests, variants, settings.baseline),
        "runs": records,
        "tests": tests,
    }
    results_dir = os.path.join(settings.out, "results")
    partial, stamp = results_dirs.start(results_dir, settings.name, "compare")
    Path(partial, "table.md").write_text(markdown(table), encoding="utf-8")
    write_json(os.path.join(partial, "table.json"), table)
    plot(logs, os.path.join(partial, "curves.png"), title=f"{settings.name}: {', '.join(variants)}")
    return results_dirs.publish(partial, results_dir, settings.name, stamp)
