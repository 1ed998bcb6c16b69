"""Fine-tune BART on CNN/DailyMail with R-Drop (or the baseline), then
summarize the test set and score ROUGE. Behind ``scripts/finetune-cnndm.sh``.

    python -m rdrop_recipes.finetune_cnndm [--model bart.large|bart.base|PATH] [--model-archive FILE]
        [--model-dir models] [--offline] [--no-eval] [--bpe-dir gpt2_bpe] [--results-dir results]
        [every option of rdrop_recipes.train: --variant, --data, --save-dir, --set, --device, --dry-run,
         --reg-*] [-- extra fairseq-train flags]

Training is ``rdrop_recipes.train`` with configs/finetune-cnndm.toml and
``--restore-file`` set to the pre-trained model (downloaded once into
``--model-dir``, unpacked from ``--model-archive``, or a model.pt path).
Evaluation is ``rdrop_recipes.evaluate_cnndm`` on the run's
checkpoint_best.pt.
"""

import argparse
import os
import sys

from rdrop_recipes import evaluate_cnndm, train
from rdrop_recipes.config import recipe_config
from rdrop_recipes.downloads import pretrained
from rdrop_recipes.process.errors import RecipeError
from rdrop_recipes.process.exit import exits_cleanly


def split_argv(argv):
    argv = list(sys.argv[1:] if argv is None else argv)
    cut = argv.index("--") if "--" in argv else len(argv)
    return argv[:cut], argv[cut:]


def parse_args(head):
    parser = argparse.ArgumentParser(prog="finetune-cnndm", description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=recipe_config.default_config_path("finetune-cnndm"))
    parser.add_argument("--model", default="bart.large", help="bart.large | bart.base | PATH to a model.pt")
    parser.add_argument("--model-archive", help="the model's .tar.gz, already downloaded (offline machines)")
    parser.add_argument("--model-dir", default="models", help="where named models are downloaded to")
    parser.add_argument("--offline", action="store_true", help="never download")
    parser.add_argument("--no-eval", action="store_true", help="train only")
    parser.add_argument("--bpe-dir", default="gpt2_bpe", help="GPT-2 BPE files, to decode summaries")
    parser.add_argument("--results-dir", default="results")
    return parser.parse_known_args(head)


def generation_settings(config_path, train_head):
    """The ``--set`` assignments that name a [generate] key, for the evaluation
    (training reads the same file but never its [generate] table)."""
    generate = recipe_config.load(config_path).get("generate", {})
    forwarded = []
    for flag, value in zip(train_head, train_head[1:]):
        key = value.partition("=")[0].strip()
        if flag == "--set" and (key in generate or key.removeprefix("generate.") in generate):
            forwarded += ["--set", value]
    return forwarded


@exits_cleanly("finetune-cnndm")
def main(argv=None):
    head, tail = split_argv(argv)
    args, train_head = parse_args(head)
    dry_run = "--dry-run" in train_head
    model, arch = pretrained.resolve(args.model, args.model_dir, args.model_archive, args.offline, dry_run)
    train_argv = ["--config", args.config, *train_head, "--set", f"restore_file={model}"]
    if arch:
        train_argv += ["--set", f"arch={arch}"]
    train_argv += tail
    plan = train.build_plan(train.parse_args(train_argv))
    status = train.main(train_argv)
    if status or dry_run or args.no_eval:
        return status
    checkpoint = os.path.join(plan.save_dir, "checkpoint_best.pt")
    if not os.path.isfile(checkpoint):
        raise RecipeError(f"training ended without {checkpoint}; is no_save set?")
    data = [train_head[i + 1] for i, flag in enumerate(train_head[:-1]) if flag == "--data"]
    eval_argv = ["--config", args.config, "--checkpoint", checkpoint, "--bpe-dir", args.bpe_dir]
    eval_argv += ["--results-dir", args.results_dir] + (["--data", data[-1]] if data else [])
    eval_argv += ["--offline"] if args.offline else []
    eval_argv += generation_settings(args.config, train_head)
    device = [train_head[i + 1] for i, flag in enumerate(train_head[:-1]) if flag == "--device"]
    eval_argv += ["--device", device[-1]] if device else (["--cpu"] if "--cpu" in train_head else [])
    return evaluate_cnndm.main(eval_argv)


if __name__ == "__main__":
    sys.exit(main())
