"""A BLEU evaluation of a translation checkpoint, into a fresh results folder."""

import datetime
import os
import shlex
import time

from rdrop_recipes.config import recipe_config
from rdrop_recipes.evaluation import run_options, scoring
from rdrop_recipes.evaluation.evaluated_checkpoints import checked_checkpoints, default_name, one_checkpoint
from rdrop_recipes.evaluation.generation import FLAG_TABLE, generate
from rdrop_recipes.folders import results_dirs
from rdrop_recipes.folders.data_bin import check_data_folder
from rdrop_recipes.process.errors import RecipeError


def add_arguments(parser):
    """``evaluate``'s options (compare checks each evaluation's command line with them)."""
    parser.add_argument("--config", required=True, help="configs/evaluate-*.toml")
    parser.add_argument("--data", help="binarized data folder")
    run_options.add_run_options(parser)
    recipe_config.add_set_option(parser, "beam=4")
    parser.add_argument("--keep-averaged", action="store_true", help="keep averaged.pt in the results")


def resolve(args):
    return run_options.resolve(args, FLAG_TABLE)


def check_setup(cfg):
    """What an evaluation needs besides its checkpoints (compare checks it before training)."""
    recipe, gen = cfg["recipe"], cfg.get(FLAG_TABLE, {})
    check_data_folder(
        recipe["data"],
        [gen.get("gen_subset") or "test"],
        recipe.get("prepare_hint", "pass --data DIR"),
        gen.get("source_lang"),
        gen.get("target_lang"),
    )
    if recipe.get("raw_reference") and not os.path.isfile(recipe["raw_reference"]):
        raise RecipeError(
            f"raw_reference {recipe['raw_reference']!r} not found; fix --set raw_reference=FILE"
        )


def evaluate_bleu(cfg, name, extra, keep_averaged=False):
    """Generate with the config's checkpoint(s) and score BLEU; the finished results folder."""
    recipe = cfg["recipe"]
    check_setup(cfg)
    checkpoints = checked_checkpoints(recipe)
    name = name or default_name(recipe, checkpoints)
    results_dir = recipe.get("results_dir", "results")
    partial, stamp = results_dirs.start(results_dir, name, "evaluate")
    started = time.time()
    with results_dirs.removed_if_interrupted(partial):
        checkpoint = one_checkpoint(checkpoints, partial, "evaluate")
        command, lines = generate(cfg, checkpoint, partial, extra)
        if checkpoint.startswith(partial) and not keep_averaged:
            os.remove(checkpoint)
        scores = scoring.bleu_scores(cfg, lines, partial)
    summary = {
        "name": name,
        "created": datetime.datetime.now().isoformat(timespec="seconds"),
        "data": os.path.abspath(recipe["data"]),
        "subset": cfg.get(FLAG_TABLE, {}).get("gen_subset", "test"),
        "checkpoints": [os.path.abspath(p) for p in checkpoints],
        "averaged": len(checkpoints) > 1,
        "generate": cfg.get(FLAG_TABLE, {}),
        "command": shlex.join(command),
        **scores,
        "seconds": round(time.time() - started, 1),
    }
    final = results_dirs.publish_scores(partial, results_dir, name, stamp, summary)
    print(f"evaluate: {scores['bleu']['kind']}: {scores['bleu']['score']}", flush=True)
    if "sacrebleu" in scores:
        print(
            f"evaluate: sacreBLEU (detokenized): {scores['sacrebleu']['score']} "
            f"{scores['sacrebleu']['signature']}",
            flush=True,
        )
    print(f"evaluate: results in {final}", flush=True)
    return final
