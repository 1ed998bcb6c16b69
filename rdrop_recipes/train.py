"""Build the fairseq-train command of a recipe from its TOML config, print it,
run it. Behind ``scripts/train-iwslt14.sh``, ``scripts/train-wmt14.sh`` and
``scripts/train-wikitext103.sh``.

    python -m rdrop_recipes.train --config configs/train-iwslt14.toml \
        [--variant rdrop|baseline|doubled-batch|no-kl] [--data DIR] [--save-dir DIR]
        [--reg-alpha A --reg-passes M --reg-kl-direction D --reg-every K --reg-dropouts P1,P2]
        [--set key=value ...] [--device auto|cpu|cuda] [--dry-run] [-- fairseq flags]

Flags after ``--`` are appended last, so argparse in fairseq lets them win.
"""

import argparse
import contextlib
import os
import shlex
import subprocess
import sys
from dataclasses import dataclass, field
from typing import List, Optional

from rdrop_recipes.config import recipe_config
from rdrop_recipes.config.command_line import parse_with_passthrough
from rdrop_recipes.fairseq_io.log_lines import ERROR_LINE
from rdrop_recipes.fairseq_io.plugin_dir import PLUGIN_DIR
from rdrop_recipes.folders import run_dirs
from rdrop_recipes.folders.data_bin import check_data_folder
from rdrop_recipes.process import children
from rdrop_recipes.process.errors import RecipeError
from rdrop_recipes.process.exit import exits_cleanly

RDROP_CRITERION = "reg_label_smoothed_cross_entropy"
# the ablation switches of the criterion, passed through as given
ABLATION_FLAGS = ("reg_alpha", "reg_passes", "reg_kl_direction", "reg_every", "reg_dropouts")
# the tables that become fairseq-train flags, where `false` removes one
FLAG_TABLES = ("fairseq", "variants")


@dataclass
class Hardware:
    device: str  # "cuda" or "cpu"
    gpus_per_node: int = 0
    bf16: bool = False


@dataclass
class Plan:
    command: List[str]
    save_dir: str
    variant: str
    update_freq: Optional[int] = None
    log_file: Optional[str] = None
    notes: List[str] = field(default_factory=list)
    settings: dict = field(default_factory=dict)  # what defines the run (run_dirs)


def detect_hardware(device="auto"):
    import torch

    if device == "cpu" or (device == "auto" and not torch.cuda.is_available()):
        return Hardware("cpu")
    if not torch.cuda.is_available():
        raise RecipeError("--device cuda but torch sees no GPU; use --device cpu or auto")
    major, _ = torch.cuda.get_device_capability(0)
    return Hardware("cuda", torch.cuda.device_count(), torch.cuda.is_bf16_supported() and major >= 8)


def precision_flags(precision, hardware):
    if hardware.device == "cpu":
        if precision in ("fp16", "bf16"):
            raise RecipeError(f"precision {precision} needs a GPU; use --set precision=fp32 on CPU")
        return ["--cpu"]
    if precision == "auto":
        precision = "bf16" if hardware.bf16 else "fp16"
    if precision not in ("fp16", "bf16", "fp32"):
        raise RecipeError(f"precision must be auto, fp16, bf16 or fp32 (got {precision!r})")
    return [] if precision == "fp32" else [f"--{precision}"]


def update_freq_for(tokens_per_update, world_size, max_tokens):
    """Gradient accumulation steps so that each update sees ``tokens_per_update``.

    update_freq = tokens_per_update / (world_size * max_tokens), which must be
    a whole number: rounding would silently train another recipe.
    """
    per_step = world_size * max_tokens
    if world_size < 1 or max_tokens < 1:
        raise RecipeError(f"need >= 1 GPU and max_tokens >= 1 (got {world_size}, {max_tokens})")
    if tokens_per_update % per_step:
        raise RecipeError(
            f"{world_size} GPU(s) x {max_tokens} max_tokens = {per_step} tokens per step does not "
            f"divide tokens_per_update {tokens_per_update}; use a GPU count that divides "
            f"{tokens_per_update // max_tokens if tokens_per_update % max_tokens == 0 else 'it'}, "
            "or choose yourself with --set update_freq=K"
        )
    return tokens_per_update // per_step


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="train", description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True, help="recipe TOML (configs/train-*.toml)")
    parser.add_argument(
        "--variant",
        help="a [variants.NAME] table of the config: rdrop (default) | baseline | doubled-batch | no-kl; "
        "IWSLT14 and Multi30k also rdrop-cutoff | simcut",
    )
    parser.add_argument("--data", help="binarized data folder (fairseq-preprocess output)")
    parser.add_argument(
        "--save-dir", help="checkpoint folder (default: derived from the settings, see run_dirs.py)"
    )
    parser.add_argument(
        run_dirs.ALLOW_FLAG,
        action="store_true",
        help="resume a save dir whose checkpoints were trained with other settings",
    )
    recipe_config.add_set_option(parser, "lr=7e-4")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), help="default: the config's")
    parser.add_argument("--cpu", dest="device", action="store_const", const="cpu", help="--device cpu")
    parser.add_argument("--reg-alpha", type=float)
    parser.add_argument("--reg-passes", type=int)
    parser.add_argument("--reg-kl-direction", choices=("bidirectional", "unidirectional"))
    parser.add_argument("--reg-every", type=int)
    parser.add_argument("--reg-dropouts", metavar="P1,P2")
    parser.add_argument(
        "--nnodes", type=recipe_config.at_least(1), default=1, help="nodes; > 1 launches through torchrun"
    )
    parser.add_argument("--node-rank", type=recipe_config.at_least(0), default=0)
    parser.add_argument("--master-addr", help="address of node 0 (with --nnodes > 1)")
    parser.add_argument("--master-port", type=int, default=29500)
    parser.add_argument(
        "--gpus-per-node", type=recipe_config.at_least(1), help="default: the GPUs torch sees here"
    )
    parser.add_argument("--dry-run", action="store_true", help="print the command, run nothing")
    from . import slurm  # here, not on top: slurm builds on this module

    slurm.add_arguments(parser)
    return parse_with_passthrough(parser, argv)


def _shapes_the_variant(cfg, assignment):
    """A ``--set`` of a variant's definition (``variants.NAME.key``) or of which
    variant to train: it must act before the variant is applied."""
    key = assignment.partition("=")[0].strip()
    try:
        path = recipe_config.resolve_key(cfg, key, FLAG_TABLES)
    except RecipeError:
        return False  # reported when it is applied
    return path[0] == "variants" or path == ["recipe", "variant"]


def resolve(args):
    """The config: the file, then the variant, then --set, then the dedicated flags,
    each applied once, so --set wins over the variant and a flag over --set."""
    cfg = recipe_config.load(args.config)
    early = [_shapes_the_variant(cfg, a) for a in args.assignments]
    cfg = recipe_config.apply_overrides(
        cfg, [a for a, first in zip(args.assignments, early) if first], FLAG_TABLES
    )
    recipe = cfg.setdefault("recipe", {})
    variant = args.variant or recipe.get("variant", "rdrop")
    variants = cfg.get("variants", {})
    if variant not in variants:
        raise RecipeError(f"unknown variant {variant!r}; choose one of {', '.join(variants)}")
    for key, value in variants[variant].items():
        section = "distributed" if key in cfg.get("distributed", {}) else "fairseq"
        cfg.setdefault(section, {})[key] = value
    cfg = recipe_config.apply_overrides(
        cfg, [a for a, first in zip(args.assignments, early) if not first], FLAG_TABLES
    )
    recipe = cfg["recipe"]
    recipe["variant"] = variant
    if args.data:
        recipe["data"] = args.data
    if args.device:
        recipe["device"] = args.device
    fairseq = cfg.setdefault("fairseq", {})
    given = {k: getattr(args, k) for k in ABLATION_FLAGS if getattr(args, k) is not None}
    if given and fairseq.get("criterion") != RDROP_CRITERION:
        names = ", ".join("--" + k.replace("_", "-") for k in given)
        # the variants that keep the configs' R-Drop criterion (rdrop and no-kl for translation)
        rdrop = [
            name for name, v in variants.items() if v.get("criterion", RDROP_CRITERION) == RDROP_CRITERION
        ]
        raise RecipeError(
            f"{names}: R-Drop option(s), but variant {variant!r} trains "
            f"{fairseq.get('criterion')}; use --variant {' or '.join(rdrop) or 'rdrop'}"
        )
    fairseq.update(given)
    return cfg


def check_data(recipe, fairseq):
    """The folder holds the train split and every validation subset fairseq-train will read."""
    splits = ["train"]
    if not fairseq.get("disable_validation"):
        splits += str(fairseq.get("valid_subset") or "valid").split(",")
    check_data_folder(
        recipe["data"],
        splits,
        recipe.get("prepare_hint", "pass --data DIR"),
        fairseq.get("source_lang"),
        fairseq.get("target_lang"),
    )


def build_plan(args, hardware=None):
    cfg = resolve(args)
    recipe, fairseq = cfg["recipe"], dict(cfg["fairseq"])
    check_data(recipe, fairseq)
    hardware = hardware or detect_hardware(recipe.get("device", "auto"))
    variant = recipe["variant"]
    settings = run_dirs.settings(cfg, args.extra)
    save_dir = args.save_dir
    if not save_dir:
        # the config as it is (this variant, no --set, flags or extra arguments) gets the plain
        # name; the data folder is not part of the name, but run-config.json holds it
        plain_args = argparse.Namespace(
            **{
                **vars(args),
                **dict.fromkeys(ABLATION_FLAGS),
                "assignments": [],
                "data": None,
                "extra": [],
                "variant": variant,
            }
        )
        plain = resolve(plain_args)
        save_dir = run_dirs.default_save_dir(
            recipe["save_dir"].format(variant=variant, name=recipe.get("name", "")),
            settings,
            run_dirs.settings({**plain, "recipe": recipe}, []),
        )

    plan = Plan(command=[], save_dir=save_dir, variant=variant, settings=settings)
    distributed = cfg.get("distributed")
    world_size = 1
    if distributed is not None:
        gpus_per_node = args.gpus_per_node or hardware.gpus_per_node
        world_size = max(1, gpus_per_node) * args.nnodes if hardware.device == "cuda" else 1
        update_freq = distributed.get("update_freq", "auto")
        if update_freq == "auto":
            update_freq = update_freq_for(
                int(distributed["tokens_per_update"]), world_size, int(fairseq["max_tokens"])
            )
        plan.update_freq = int(update_freq)
        fairseq["update_freq"] = plan.update_freq
        plan.notes.append(
            f"{world_size} worker(s) x {fairseq['max_tokens']} tokens x update_freq "
            f"{plan.update_freq} = {world_size * int(fairseq['max_tokens']) * plan.update_freq} "
            "tokens per update"
        )
    elif args.nnodes > 1:
        raise RecipeError("this recipe trains on one GPU; --nnodes needs a recipe with [distributed]")

    fairseq_args = [recipe["data"], "--user-dir", PLUGIN_DIR, "--save-dir", save_dir]
    if recipe.get("log_file"):
        # not fairseq's --log-file: fairseq 0.12 adds one more handler to that file per
        # epoch, so epoch k writes every line k times; we copy the console output instead
        plan.log_file = os.path.join(save_dir, recipe["log_file"])
    if recipe.get("tensorboard"):
        # fairseq's own TensorBoard logging (train_inner/, train/, valid/ under this folder)
        fairseq_args += ["--tensorboard-logdir", os.path.join(save_dir, recipe["tensorboard"])]
    fairseq_args += recipe_config.to_flags(fairseq)
    fairseq_args += precision_flags(recipe.get("precision", "auto"), hardware)

    if args.nnodes > 1:
        if hardware.device != "cuda":
            raise RecipeError(
                "--nnodes > 1 trains on GPUs; this machine has none (or --device cpu was given)"
            )
        if not args.master_addr:
            raise RecipeError("--nnodes > 1 needs --master-addr (the address of the node with --node-rank 0)")
        if args.node_rank >= args.nnodes:
            raise RecipeError(
                f"--node-rank {args.node_rank} with --nnodes {args.nnodes}: ranks are 0 to {args.nnodes - 1}"
            )
        gpus_per_node = args.gpus_per_node or hardware.gpus_per_node
        # torchrun starts the processes; fairseq reads RANK/WORLD_SIZE/MASTER_* itself
        launcher = [
            "torchrun",
            "--nnodes",
            str(args.nnodes),
            "--nproc_per_node",
            str(gpus_per_node),
            "--node_rank",
            str(args.node_rank),
            "--master_addr",
            args.master_addr,
            "--master_port",
            str(args.master_port),
            "-m",
            "fairseq_cli.train",
        ]
        fairseq_args += ["--distributed-world-size", str(world_size)]
        plan.command = launcher + fairseq_args + args.extra
    else:
        plan.command = [sys.executable, "-m", "fairseq_cli.train"] + fairseq_args + args.extra
    return plan


def run_logged(command, log_file):
    """Run ``command``, its stdout and stderr to the console and, if given, appended to
    ``log_file`` (appended: a resumed run continues the same curves). Returns the exit
    status and the last ``<prog>: error: ...`` line fairseq or the plugin printed."""
    error = None
    pipe = dict(stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1, errors="replace")
    with contextlib.ExitStack() as stack:
        log = None
        if log_file:
            print(f"train: log in {log_file}", flush=True)
            log = stack.enter_context(open(log_file, "a", encoding="utf-8"))
        proc = stack.enter_context(children.started(command, **pipe))
        for line in proc.stdout:
            sys.stdout.write(line)
            if ERROR_LINE.match(line):
                error = line.strip()
            if log:
                log.write(line)
                if "| valid |" in line or "| train |" in line:
                    log.flush()
    return proc.returncode, error


@exits_cleanly("train")
def main(argv=None):
    args = parse_args(argv)
    from . import slurm

    if slurm.requested(args):
        return slurm.run(args)
    plan = build_plan(args)
    print(f"train: variant {plan.variant}, checkpoints in {plan.save_dir}", flush=True)
    for note in plan.notes:
        print(f"train: {note}", flush=True)
    print("train: " + shlex.join(plan.command), flush=True)
    note = run_dirs.check_resume(plan.save_dir, plan.settings, args.allow_changed_settings)
    if note:
        print(f"train: note: {note}", flush=True)
    if args.dry_run:
        return 0
    os.makedirs(plan.save_dir, exist_ok=True)
    run_dirs.record(plan.save_dir, plan.settings, shlex.join(plan.command))
    code, error = run_logged(plan.command, plan.log_file)
    if code and error:  # the plugin's (or fairseq's argparse) one line, as this recipe's error
        raise RecipeError(f"fairseq-train stopped: {error}")
    if code:
        print(f"train: fairseq-train exited with status {code}", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
