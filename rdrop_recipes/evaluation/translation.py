"""A BLEU evaluation of a translation checkpoint, into a fresh results folder."""

import os
import shlex

from rdrop_recipes.config import recipe_config
from rdrop_recipes.evaluation import evaluated_checkpoints, scoring
from rdrop_recipes.fairseq_io.preprocess import check_data_folder
from rdrop_recipes.process.errors import RecipeError

FLAG_TABLE = "generate"


def add_arguments(parser):
    """``evaluate``'s options (compare checks each evaluation's command line with them)."""
    parser.add_argument("--config", required=True, help="configs/evaluate-*.toml")
    parser.add_argument("--data", help="binarized data folder")
    evaluated_checkpoints.add_run_options(parser)
    recipe_config.add_set_option(parser, "beam=4")
    parser.add_argument("--keep-averaged", action="store_true", help="keep averaged.pt in the results")


def resolve(args):
    return evaluated_checkpoints.evaluation_config(args, FLAG_TABLE)


def check_setup(cfg):
    """What an evaluation needs besides its checkpoints (compare checks it before training);
    the subset it generates (``gen_subset = ""`` leaves the flag out: fairseq's "test")."""
    recipe, gen = cfg["recipe"], cfg.get(FLAG_TABLE, {})
    subset = gen.get("gen_subset") or "test"
    check_data_folder(recipe, [subset], gen.get("source_lang"), gen.get("target_lang"))
    if recipe.get("raw_reference") and not os.path.isfile(recipe["raw_reference"]):
        raise RecipeError(
            f"raw_reference {recipe['raw_reference']!r} not found; fix --set raw_reference=FILE"
        )
    return subset


def evaluate_bleu(cfg, name, extra, keep_averaged=False):
    """Generate with the config's checkpoint(s) and score BLEU; the finished results folder."""
    subset = check_setup(cfg)
    gen = cfg.get(FLAG_TABLE, {})

    def score(checkpoint, folder):
        command, lines = evaluated_checkpoints.generate(cfg, checkpoint, folder, extra)
        scores = scoring.bleu_scores(cfg, lines, folder)
        print(f"evaluate: {scores['bleu']['kind']}: {scores['bleu']['score']}", flush=True)
        if "sacrebleu" in scores:
            print(
                f"evaluate: sacreBLEU (detokenized): {scores['sacrebleu']['score']} "
                f"{scores['sacrebleu']['signature']}",
                flush=True,
            )
        return {"subset": subset, "generate": gen, "command": shlex.join(command), **scores}

    checkpoints = evaluated_checkpoints.checked_checkpoints(cfg["recipe"])
    return evaluated_checkpoints.scored_into_results(cfg, checkpoints, name, "evaluate", score, keep_averaged)
