"""A training run: its options (shared by ``train`` and ``finetune-cnndm``), then its plan carried
out: fairseq-train with its console copied to the run's log (or an sbatch script written), its
settings recorded in the save dir."""

import os
import shlex
import subprocess
import sys

from rdrop_recipes.config import recipe_config
from rdrop_recipes.fairseq_io.log_lines import ERROR_LINE, reports_progress
from rdrop_recipes.folders import run_dirs
from rdrop_recipes.process import children
from rdrop_recipes.process.errors import RecipeError
from rdrop_recipes.training import slurm
from rdrop_recipes.training.hardware import add_device_options
from rdrop_recipes.training.plan import ABLATION_FLAGS, build_plan

PROG = "train"  # also finetune-cnndm's training lines


def add_arguments(parser, config_default=None):
    """``--config`` is required unless the recipe has its own (``config_default``)."""
    config_help = "recipe TOML" if config_default else "recipe TOML (configs/train-*.toml)"
    parser.add_argument("--config", required=config_default is None, default=config_default, help=config_help)
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
    add_device_options(parser, "default: the config's")
    # checked by the R-Drop options' own declarations (config/declarations.py), as a --set is
    for key in ABLATION_FLAGS:
        metavar = "P1,P2" if key == "reg_dropouts" else None
        parser.add_argument("--" + key.replace("_", "-"), type=recipe_config.flag_type(key), metavar=metavar)
    parser.add_argument(
        "--nnodes", type=recipe_config.at_least(1), default=1, help="nodes; > 1 launches through torchrun"
    )
    parser.add_argument("--node-rank", type=recipe_config.at_least(0), default=0)
    parser.add_argument("--master-addr", help="address of node 0 (with --nnodes > 1)")
    parser.add_argument("--master-port", type=recipe_config.at_least(1, 65535), default=29500)
    parser.add_argument(
        "--gpus-per-node", type=recipe_config.at_least(1), help="default: the GPUs torch sees here"
    )
    parser.add_argument("--dry-run", action="store_true", help="print the command, run nothing")
    slurm.add_arguments(parser)


def run_logged(command, log_file, echo=None):
    """Run ``command``, its output to the console (the lines ``echo`` accepts, else all) and
    appended to ``log_file`` if given (a resumed run continues the same curves): the exit
    status and the last ``<prog>: error: ...`` line fairseq or the plugin printed."""
    error = None
    pipe = dict(stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1, errors="replace")
    with (
        open(log_file or os.devnull, "a", encoding="utf-8") as log,
        children.started(command, **pipe) as proc,
    ):
        for line in proc.stdout:
            if echo is None or echo(line):
                sys.stdout.write(line)
            log.write(line)
            if reports_progress(line):
                sys.stdout.flush()
                log.flush()
            if ERROR_LINE.match(line):
                error = line.strip()
    return proc.returncode, error


def _start(plan, args, recorded, shown=None):
    """Print the plan, refuse a save dir of other settings and, unless ``--dry-run``, record
    the settings and ``recorded`` (the command or script) in it."""
    print(f"{PROG}: variant {plan.variant}, checkpoints in {plan.save_dir}", flush=True)
    for note in plan.notes:
        print(f"{PROG}: {note}", flush=True)
    if shown:
        print(f"{PROG}: {shown}", flush=True)
    note = run_dirs.check_resume(plan.save_dir, plan.settings, args.allow_changed_settings)
    if note:
        print(f"{PROG}: note: {note}", flush=True)
    if not args.dry_run:
        os.makedirs(plan.save_dir, exist_ok=True)
        run_dirs.record(plan.save_dir, plan.settings, recorded)


def run_job(args):
    """``train --slurm-nodes ...``: print the job, write (and submit) its sbatch script."""
    plan, script, path = slurm.plan_job(args)
    _start(plan, args, script)
    slurm.write_job(PROG, args, path, script, f"log in {plan.log_file or plan.save_dir}")
    return 0


def train(args):
    """``train``'s arguments carried out: ``(status, plan)``, fairseq-train's exit status (0 for
    ``--dry-run``); the plan is None where an sbatch script was written instead (the job trains on
    the cluster)."""
    if slurm.requested(args):
        return run_job(args), None
    plan = build_plan(args)
    command = shlex.join(plan.command)
    _start(plan, args, command, shown=command)
    if args.dry_run:
        return 0, plan
    if plan.log_file:
        print(f"{PROG}: log in {plan.log_file}", flush=True)
    code, error = run_logged(plan.command, plan.log_file)
    if code and error:  # the plugin's (or fairseq's argparse) one line, as this recipe's error
        raise RecipeError(f"fairseq-train stopped: {error}")
    if code:
        print(f"{PROG}: fairseq-train exited with status {code}", file=sys.stderr)
    return code, plan
