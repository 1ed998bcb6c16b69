"""Running a training plan: fairseq-train with its console copied to the run's log (or an
sbatch script written), its settings recorded in the save dir."""

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

PROG = "train"  # also finetune-cnndm's training lines


def run_logged(command, log_file, echo=None):
    """Run ``command``, its output to the console (the lines ``echo`` accepts, else all) and
    appended to ``log_file`` if given (a resumed run continues the same curves): the exit
    status and the last ``<prog>: error: ...`` line fairseq or the plugin printed."""
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


def run_plan(plan, args):
    """fairseq-train's exit status (0 for ``--dry-run``)."""
    command = shlex.join(plan.command)
    _start(plan, args, command, shown=command)
    if args.dry_run:
        return 0
    if plan.log_file:
        print(f"{PROG}: log in {plan.log_file}", flush=True)
    code, error = run_logged(plan.command, plan.log_file)
    if code and error:  # the plugin's (or fairseq's argparse) one line, as this recipe's error
        raise RecipeError(f"fairseq-train stopped: {error}")
    if code:
        print(f"{PROG}: fairseq-train exited with status {code}", file=sys.stderr)
    return code


def run_job(args):
    """``train --slurm-nodes ...``: print the job, write (and submit) its sbatch script."""
    plan, script, path = slurm.plan_job(args)
    _start(plan, args, script)
    if args.dry_run:
        print(f"{PROG}: sbatch script {path} (dry run: not written)\n{script}", end="", flush=True)
        return 0
    kept = slurm.write_script(path, script)
    if kept:
        print(f"{PROG}: the previous script is kept as {kept}", flush=True)
    print(f"{PROG}: wrote {path}", flush=True)
    if args.submit:
        print(f"{PROG}: {slurm.submit(path)}; log in {plan.log_file or plan.save_dir}", flush=True)
    else:
        print(f"{PROG}: submit with: sbatch {shlex.quote(path)}", flush=True)
    return 0


def train(args):
    """``train``'s arguments carried out: ``(status, plan)``; the plan is None where an sbatch
    script was written instead (the job trains on the cluster)."""
    if slurm.requested(args):
        return run_job(args), None
    plan = build_plan(args)
    return run_plan(plan, args), plan
