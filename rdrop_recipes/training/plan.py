"""The training plan: a recipe config resolved once into the fairseq-train command, its save
dir, update frequency and log file. Order: the file, the ``--set``s of a layer or the variant,
the task's table (GLUE), the variant's, the other ``--set``s, then the flags.
"""

import copy
import os
import sys
from dataclasses import dataclass, field
from typing import List, NamedTuple, Optional

from rdrop_recipes.config import declarations, recipe_config
from rdrop_recipes.fairseq_io.plugin_dir import PLUGIN_DIR
from rdrop_recipes.fairseq_io.preprocess import check_data_folder
from rdrop_recipes.folders import run_dirs
from rdrop_recipes.process.errors import RecipeError
from rdrop_recipes.training.hardware import detect_hardware, precision_flags

RDROP_CRITERION = "reg_label_smoothed_cross_entropy"
# the criteria that take the R-Drop options (rdrop_fairseq/criterions/)
RDROP_CRITERIA = (RDROP_CRITERION, "reg_sentence_prediction")
# the criterion's options that have a flag of their own
ABLATION_FLAGS = ("reg_alpha", "reg_passes", "reg_kl_direction", "reg_every", "reg_dropouts")
# the tables that become fairseq-train flags, where `false` removes one
FLAG_TABLES = ("fairseq", "variants", "tasks")
# the tables layered onto [fairseq] (a --set of them acts before the layering)
LAYER_TABLES = ("variants", "tasks")


class Resolved(NamedTuple):
    config: dict  # the config as this run trains it
    plain: dict  # the file as it is with the same task and variant: its run gets the plain save dir


@dataclass
class Plan:
    command: List[str]
    save_dir: str
    variant: str
    config: dict = field(default_factory=dict)
    update_freq: Optional[int] = None
    log_file: Optional[str] = None
    notes: List[str] = field(default_factory=list)
    settings: dict = field(default_factory=dict)  # what defines the run (run_dirs)


def update_freq_for(tokens_per_update, world_size, max_tokens):
    """Gradient accumulation steps so that each update sees ``tokens_per_update`` (a whole
    number: rounding would silently train another recipe)."""
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


def _shapes_a_layer(cfg, assignment):
    """A ``--set`` of a layer (``variants.NAME.key``, ``tasks.NAME.key``) or of the variant."""
    key = assignment.partition("=")[0].strip()
    try:
        path = recipe_config.resolve_key(cfg, key, FLAG_TABLES)
    except RecipeError:
        return False  # reported when it is applied
    return path[0] in LAYER_TABLES or path == ["recipe", "variant"]


def _layered(cfg, layers):
    """A copy of ``cfg`` with ``layers`` applied in order, each key in the section that holds
    it ([distributed], [fairseq], else [recipe], such as GLUE's metric), or in [fairseq]."""
    cfg = copy.deepcopy(cfg)
    for layer in layers:
        for key, value in layer.items():
            section = "fairseq"
            if key in cfg.get("distributed", {}):
                section = "distributed"
            elif key not in cfg.get("fairseq", {}) and key in cfg.get("recipe", {}):
                section = "recipe"
            cfg.setdefault(section, {})[key] = value
    return cfg


def resolve(args, task=None):
    """The config of this run and its plain form; ``task``: a GLUE task's [tasks.NAME] layer."""
    loaded = recipe_config.load(args.config)
    tasks = loaded.get("tasks", {})
    if task is not None and task not in tasks:
        raise RecipeError(f"unknown GLUE task {task!r}; choose one of {', '.join(tasks)}")
    early = [a for a in args.assignments if _shapes_a_layer(loaded, a)]
    late = [a for a in args.assignments if a not in early]
    cfg = recipe_config.apply_overrides(loaded, early, FLAG_TABLES)
    recipe = cfg.setdefault("recipe", {})
    variant = args.variant or recipe.get("variant", "rdrop")
    variants = cfg.get("variants", {})
    if variant not in variants:
        raise RecipeError(f"unknown variant {variant!r}; choose one of {', '.join(variants)}")

    def layers(config):
        return ([config["tasks"][task]] if task is not None else []) + [config["variants"][variant]]

    plain = _layered(loaded, layers(loaded))
    plain.setdefault("recipe", {})["variant"] = variant
    cfg = recipe_config.apply_overrides(_layered(cfg, layers(cfg)), late, FLAG_TABLES)
    recipe = cfg["recipe"]
    recipe["variant"] = variant
    for key in ("data", "device"):
        if getattr(args, key):
            recipe[key] = getattr(args, key)
    fairseq = cfg.setdefault("fairseq", {})
    given = {k: getattr(args, k, None) for k in ABLATION_FLAGS if getattr(args, k, None) is not None}
    fairseq.update(given)
    _check_rdrop_options(fairseq, given, variant, variants)
    return Resolved(cfg, plain)


def _check_rdrop_options(fairseq, given, variant, variants):
    """R-Drop's options only with R-Drop's criteria (fairseq's argparse would end in a usage
    message for all of fairseq-train)."""
    criterion = fairseq.get("criterion")
    if criterion in RDROP_CRITERIA:
        return
    options = [
        "--" + key.replace("_", "-") if key in given else key
        for key, value in fairseq.items()
        if key in declarations.RDROP_OPTIONS and not recipe_config.removes_flag(value)
    ]
    if options:
        # the variants that keep the configs' R-Drop criterion (rdrop and no-kl for translation)
        rdrop = [
            name for name, v in variants.items() if v.get("criterion", RDROP_CRITERION) in RDROP_CRITERIA
        ]
        raise RecipeError(
            f"{', '.join(options)}: R-Drop option(s), but variant {variant!r} trains "
            f"{criterion}; use --variant {' or '.join(rdrop) or 'rdrop'}"
        )


def default_save_dir(resolved, settings):
    """The plain name (``checkpoints/iwslt14-rdrop``) for the config as it is (this variant,
    no --set, flags or extra arguments), else that name plus what differs (not the data)."""
    recipe = resolved.config["recipe"]
    try:
        plain_dir = recipe["save_dir"].format(variant=recipe["variant"], name=recipe.get("name", ""))
    except (KeyError, IndexError, ValueError):
        # str.format's own errors name a field, not the setting or the fix
        raise RecipeError(
            f"save_dir {recipe['save_dir']!r}: only {{variant}} and {{name}} are filled in (a literal "
            "brace is written twice); fix it with --set save_dir=... or give --save-dir DIR"
        ) from None
    plain = run_dirs.settings({**resolved.plain, "recipe": recipe}, [])
    return run_dirs.default_save_dir(plain_dir, settings, plain)


def fairseq_train_args(cfg, save_dir, hardware):
    """fairseq-train's arguments for a resolved config (without the flags after ``--``)."""
    recipe, fairseq = cfg["recipe"], cfg["fairseq"]
    arguments = [recipe["data"], "--user-dir", PLUGIN_DIR, "--save-dir", save_dir]
    if recipe.get("tensorboard"):
        # fairseq's own TensorBoard logging (train_inner/, train/, valid/ under this folder)
        arguments += ["--tensorboard-logdir", os.path.join(save_dir, recipe["tensorboard"])]
    arguments += recipe_config.to_flags(fairseq)
    return arguments + precision_flags(recipe.get("precision", "auto"), hardware)


def one_process(arguments, extra):
    """fairseq-train on this machine (one process per visible GPU, fairseq's own); the flags
    after ``--`` last, so fairseq's argparse lets them win."""
    return [sys.executable, "-m", "fairseq_cli.train", *arguments, *extra]


def build_plan(args, hardware=None, resolved=None):
    resolved = resolved or resolve(args)
    cfg = resolved.config
    recipe, fairseq = cfg["recipe"], dict(cfg["fairseq"])
    # the train split and every validation subset fairseq-train will read
    splits = ["train"]
    if not fairseq.get("disable_validation"):
        splits += str(fairseq.get("valid_subset") or "valid").split(",")
    check_data_folder(recipe, splits, fairseq.get("source_lang"), fairseq.get("target_lang"))
    hardware = hardware or detect_hardware(recipe.get("device", "auto"))
    settings = run_dirs.settings(cfg, args.extra)
    save_dir = args.save_dir or default_save_dir(resolved, settings)
    plan = Plan(command=[], save_dir=save_dir, variant=recipe["variant"], config=cfg, settings=settings)

    distributed = cfg.get("distributed")
    gpus_per_node = args.gpus_per_node or hardware.gpus_per_node
    world_size = 1
    if distributed is not None:
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

    if recipe.get("log_file"):
        # not fairseq's --log-file: fairseq 0.12 writes epoch k's lines k times; we copy the console
        plan.log_file = os.path.join(save_dir, recipe["log_file"])
    arguments = fairseq_train_args({**cfg, "fairseq": fairseq}, save_dir, hardware)
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
        # torchrun starts the processes; fairseq reads RANK/WORLD_SIZE/MASTER_* itself
        launcher = ["torchrun", "--nnodes", str(args.nnodes), "--nproc_per_node", str(gpus_per_node)]
        launcher += ["--node_rank", str(args.node_rank), "--master_addr", args.master_addr]
        launcher += ["--master_port", str(args.master_port), "-m", "fairseq_cli.train"]
        plan.command = launcher + arguments + ["--distributed-world-size", str(world_size)] + args.extra
    else:
        plan.command = one_process(arguments, args.extra)
    return plan
