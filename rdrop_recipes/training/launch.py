"""Running a training plan: fairseq-train with its console copied to the run's log, its
settings recorded in the save dir, its one-line errors shown as the recipe's own."""

import contextlib
import os
import shlex
import subprocess
import sys

from rdrop_recipes.fairseq_io.log_lines import ERROR_LINE, reports_progress
from rdrop_recipes.folders import run_dirs
from rdrop_recipes.process import children
from rdrop_recipes.process.errors import RecipeError
from rdrop_recipes.training import slurm
from rdrop_recipes.training.plan import build_plan


def run_logged(command, log_file, echo=None):
    """Run ``command``, its stdout and stderr to the console (the lines ``echo`` accepts, all
    without it) and, if given, appended to ``log_file`` (appended: a resumed run continues
    the same curves). Returns the exit status and the last ``<prog>: error: ...`` line
    fairseq or the plugin printed."""
    error = None
    pipe = dict(stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1, errors="replace")
    with contextlib.ExitStack() as stack:
        log = stack.enter_context(open(log_file, "a", encoding="utf-8")) if log_file else None
        proc = stack.enter_context(children.started(command, **pipe))
        for line in proc.stdout:
            progress = reports_progress(line)
            if echo is None or echo(line):
                sys.stdout.write(line)
                if progress:
                    sys.stdout.flush()
            if ERROR_LINE.match(line):
                error = line.strip()
            if log:
                log.write(line)
                if progress:
                    log.flush()
    return proc.returncode, error


def run_plan(plan, args, prog="train"):
    """Print the plan, refuse a save dir of other settings, record the settings, train.
    The exit status of fairseq-train (0 for ``--dry-run``)."""
    print(f"{prog}: variant {plan.variant}, checkpoints in {plan.save_dir}", flush=True)
    for note in plan.notes:
        print(f"{prog}: {note}", flush=True)
    print(f"{prog}: " + shlex.join(plan.command), flush=True)
    note = run_dirs.check_resume(plan.save_dir, plan.settings, args.allow_changed_settings)
    if note:
        print(f"{prog}: note: {note}", flush=True)
    if args.dry_run:
        return 0
    os.makedirs(plan.save_dir, exist_ok=True)
    run_dirs.record(plan.save_dir, plan.settings, shlex.join(plan.command))
    if plan.log_file:
        print(f"{prog}: log in {plan.log_file}", flush=True)
    code, error = run_logged(plan.command, plan.log_file)
    if code and error:  # the plugin's (or fairseq's argparse) one line, as this recipe's error
        raise RecipeError(f"fairseq-train stopped: {error}")
    if code:
        print(f"{prog}: fairseq-train exited with status {code}", file=sys.stderr)
    return code


def train(args, resolved=None, prog="train"):
    """``train``'s arguments carried out: ``(status, plan)``; the plan is None where an sbatch
    script was written instead (``--slurm-nodes``: the job trains on the cluster)."""
    if slurm.requested(args):
        return slurm.run(args, resolved, prog), None
    plan = build_plan(args, resolved=resolved)
    return run_plan(plan, args, prog), plan
