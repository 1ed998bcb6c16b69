"""Fine-tuning BART on CNN/DailyMail through ``train``'s plan, restoring the pre-trained
model, then ROUGE on its best checkpoint with the config's [generate] table."""

import os

from rdrop_recipes.config import recipe_config
from rdrop_recipes.downloads import pretrained
from rdrop_recipes.evaluation.summarization import evaluate_rouge, summarization_config
from rdrop_recipes.process.errors import RecipeError
from rdrop_recipes.training import launch


def generation_settings(config_path, assignments):
    """The ``--set`` assignments that name a [generate] key (training never reads that table)."""
    generate = recipe_config.load(config_path).get("generate", {})
    return [a for a in assignments if a.partition("=")[0].strip().removeprefix("generate.") in generate]


def finetune_then_evaluate(args):
    model, arch = pretrained.resolve(
        args.model, args.model_dir, args.model_archive, args.offline, args.dry_run
    )
    given = list(args.assignments)
    # last, so the model restored is the one named by --model
    args.assignments = given + [f"restore_file={model}"] + ([f"arch={arch}"] if arch else [])
    status, plan = launch.train(args)
    if status or plan is None or args.dry_run or args.no_eval:
        return status  # plan None: an sbatch script was written, the job trains on the cluster
    checkpoint = os.path.join(plan.save_dir, "checkpoint_best.pt")
    if not os.path.isfile(checkpoint):
        raise RecipeError(f"training ended without {checkpoint}; is no_save set?")
    cfg = summarization_config(args.config, generation_settings(args.config, given), args.data, args.device)
    evaluate_rouge(cfg, checkpoint, args.bpe_dir, args.offline, args.results_dir)
    return 0
