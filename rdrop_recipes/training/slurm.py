"""``train --slurm-nodes N --gpus-per-node G``: ``<save_dir>/train.sbatch``, one ``srun`` task
per GPU running the one-machine command (fairseq reads SLURM_* itself). Every flag is decided
at submission but precision "auto" (:data:`PRECISION_LINES`); the job requeues itself before
its time limit and resumes from ``checkpoint_last.pt`` in the same save dir.
``finetune-glue --slurm-nodes 1 --gpus-per-node 1``: a job array, one task per seed (:func:`seed_array`).
"""

import argparse
import copy
import itertools
import os
import shlex
import shutil
import subprocess

from rdrop_recipes.folders.atomic_files import write_lines
from rdrop_recipes.process import children
from rdrop_recipes.process.errors import RecipeError
from rdrop_recipes.training import plan as training_plan
from rdrop_recipes.training.hardware import BF16_FROM_COMPUTE_CAPABILITY, Hardware

SCRIPT_NAME = "train.sbatch"
# seconds before the time limit at which SLURM signals the script to requeue itself
REQUEUE_WARNING_S = 300
# the port, from the job id: the same after a requeue, and none shared by two jobs on a node
PORT_BASE, PORT_SPAN = 20000, 20000
SLURM_OPTIONS = ("slurm_nodes", "slurm_time", "slurm_partition", "slurm_account", "slurm_option", "submit")
# precision "auto" on the node's first GPU: training/hardware.py's rule; nvidia-smi reports "8.6"
PRECISION_LINES = (
    "# precision auto: --bf16 on GPUs of compute capability >= "
    f"{BF16_FROM_COMPUTE_CAPABILITY}.0, --fp16 on older ones",
    "CAPABILITY=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -n 1)",
    'case "${CAPABILITY%%.*}" in',
    "    ''|*[!0-9]*) echo \"slurm: error: no GPU compute capability from nvidia-smi (got '${CAPABILITY}'); "
    'write the script again with --set precision=bf16 or fp16" >&2; exit 2 ;;',
    "esac",
    f"if (( ${{CAPABILITY%%.*}} >= {BF16_FROM_COMPUTE_CAPABILITY} )); then PRECISION=--bf16; "
    "else PRECISION=--fp16; fi",
)


# sbatch's --time formats (man sbatch); "infinite"/"unlimited" mean the partition's limit
TIME_FORMATS = "MM, MM:SS, HH:MM:SS, D-HH, D-HH:MM or D-HH:MM:SS"
NO_TIME_LIMIT = ("infinite", "unlimited")


def slurm_time(text):
    """argparse ``type`` of ``--slurm-time``: longer than the requeue warning (a shorter limit
    signals the job at its start: it would requeue forever)."""
    value = text.strip()
    if value.lower() in NO_TIME_LIMIT:
        return value
    days, dash, clock = value.rpartition("-")
    fields = clock.split(":")
    if len(fields) > 3 or not all(f.isdecimal() for f in fields) or (dash and not days.isdecimal()):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a SLURM time; use {TIME_FORMATS}, e.g. 3-00:00:00 for three days"
        )
    if dash:
        hours, minutes, seconds = [*fields, "0", "0"][:3]
    else:  # without a day, the fields are MM, MM:SS or HH:MM:SS
        hours, minutes, seconds = fields if len(fields) == 3 else ["0", *fields, "0"][:3]
    total = int(days or 0) * 86400 + int(hours) * 3600 + int(minutes) * 60 + int(seconds)
    # 0 is sbatch's "no limit"
    if 0 < total <= REQUEUE_WARNING_S:
        raise argparse.ArgumentTypeError(
            f"{text!r} is {total} s, not more than the {REQUEUE_WARNING_S} s warning before the limit "
            "at which the job requeues itself; give a longer time"
        )
    return value


def one_word(text):
    if not text.strip() or any(ch.isspace() for ch in text.strip()):
        raise argparse.ArgumentTypeError(f"expected one word without spaces (got {text!r})")
    return text.strip()


def sbatch_option(text):
    if not text.startswith("-"):
        raise argparse.ArgumentTypeError(
            f"expected an sbatch option, e.g. --slurm-option=--constraint=a100 (got {text!r})"
        )
    return text


def add_arguments(parser, writes=f"<save_dir>/{SCRIPT_NAME} for N nodes x --gpus-per-node GPUs"):
    """``writes``: what ``--slurm-nodes`` writes, for its help."""
    group = parser.add_argument_group("SLURM (write an sbatch script instead of training here)")
    group.add_argument("--slurm-nodes", type=int, metavar="N", help=f"write {writes}; run nothing here")
    group.add_argument("--slurm-time", type=slurm_time, metavar="D-HH:MM:SS", help="#SBATCH --time")
    group.add_argument("--slurm-partition", type=one_word, metavar="P", help="#SBATCH --partition")
    group.add_argument("--slurm-account", type=one_word, metavar="A", help="#SBATCH --account")
    group.add_argument(
        "--slurm-option",
        action="append",
        type=sbatch_option,
        default=[],
        metavar="OPT",
        help="one more #SBATCH line, e.g. --slurm-option=--constraint=a100 (repeatable)",
    )
    group.add_argument("--submit", action="store_true", help="with --slurm-nodes: run sbatch on the script")


def _given(args, name):
    # given, not truthy (nor `not in (None, False, [])`, as 0 == False): --slurm-nodes 0 is a mistake
    value = getattr(args, name, None)
    return value is not None and value is not False and value != []


def requested(args):
    return any(_given(args, name) for name in SLURM_OPTIONS)


def check_args(args, cfg):
    given = [name for name in SLURM_OPTIONS if name != "slurm_nodes" and _given(args, name)]
    if args.slurm_nodes is None:
        names = ", ".join("--" + name.replace("_", "-") for name in given)
        raise RecipeError(f"{names} need(s) --slurm-nodes N (and --gpus-per-node G)")
    if args.slurm_nodes < 1:
        raise RecipeError(f"--slurm-nodes must be >= 1 (got {args.slurm_nodes})")
    if args.gpus_per_node is None:
        raise RecipeError(
            "--slurm-nodes needs --gpus-per-node G, the GPUs of one cluster node (this machine cannot see them)"
        )
    # --slurm-time, -partition and -account are one word already (their argparse types)
    if any("\n" in text or "\r" in text for text in args.slurm_option):
        raise RecipeError("a --slurm-* value holds a line break; each must fit on one #SBATCH line")
    if getattr(args, "nnodes", 1) > 1:
        raise RecipeError("--slurm-nodes and --nnodes are two launchers (srun and torchrun); give one")
    if cfg["recipe"].get("device") == "cpu":
        raise RecipeError("--slurm-nodes trains on GPUs; drop --device cpu")
    total = args.slurm_nodes * args.gpus_per_node
    if cfg.get("distributed") is None and total > 1:
        raise RecipeError(
            f"this recipe trains on one GPU (its config has no [distributed] table), not {total}; "
            "use --slurm-nodes 1 --gpus-per-node 1"
        )


def decided_on_the_node(cfg):
    """``(cfg, runtime)``: where precision is "auto", a copy of ``cfg`` that puts no precision flag
    in the command (fp32), and True: the script decides it on the node (:data:`PRECISION_LINES`)."""
    if cfg["recipe"].get("precision", "auto") != "auto":
        return cfg, False
    cfg = copy.deepcopy(cfg)
    cfg["recipe"]["precision"] = "fp32"
    return cfg, True


def shell_command(command, extra, runtime_precision, total):
    """The script's line for the one-machine ``command`` (``extra``, the flags after ``--``, at its
    end): ``${PRECISION}`` and the world size added before them, so ``extra`` still wins."""
    fairseq = command[: len(command) - len(extra)]
    shell_words = [shlex.join(fairseq)]
    if runtime_precision:
        shell_words.append("${PRECISION}")
    if "--distributed-world-size" not in fairseq:
        shell_words.append(f"--distributed-world-size {total}")
    if total > 1:
        shell_words.append('--distributed-port "${PORT}"')
    if extra:
        shell_words.append(shlex.join(extra))
    return " ".join(shell_words)


def plan_job(args):
    """``(plan, script_text, script_path)``; ``plan`` is the one-machine plan as if this machine
    had all N*G GPUs, so the update frequency, save dir and flags are the recipe's own."""
    resolved = training_plan.resolve(args)
    check_args(args, resolved.config)
    total = args.slurm_nodes * args.gpus_per_node
    cfg, runtime_precision = decided_on_the_node(resolved.config)
    one_machine = copy.copy(args)
    one_machine.nnodes, one_machine.gpus_per_node = 1, total
    plan = training_plan.build_plan(one_machine, Hardware("cuda", total), resolved._replace(config=cfg))

    command = shell_command(plan.command, args.extra, runtime_precision, total)
    save_dir = os.path.abspath(plan.save_dir)
    log = os.path.abspath(plan.log_file) if plan.log_file else os.path.join(save_dir, "slurm-%j.out")
    path = os.path.join(save_dir, SCRIPT_NAME)
    name = plan.config["recipe"].get("name", "run")
    workers = f"{args.slurm_nodes} node(s) x {args.gpus_per_node} GPU(s) = {total} worker(s)"
    script = render(args, name, plan.variant, workers, log, path, runtime_precision, requeued_run(command))
    return plan, script, path


def render(args, name, variant, workers, log, path, runtime_precision, body, array=None):
    """The script at ``path``: its #SBATCH lines, the set-up every job shares (folder, port,
    precision), then ``body`` (:func:`requeued_run` or :func:`seed_array`). ``array``: the size
    of a job array, whose tasks are not requeued at the time limit (see :func:`seed_array`)."""
    if any(ch.isspace() for ch in log):
        raise RecipeError(
            f"#SBATCH --output cannot hold a path with spaces ({log!r}); use a folder without one "
            "(--save-dir, --results-dir)"
        )
    sbatch = [
        f"--job-name=rdrop-{name}-{variant}",
        f"--nodes={args.slurm_nodes}",
        # one task per GPU: fairseq takes its rank from SLURM_PROCID, its GPU from SLURM_LOCALID
        f"--ntasks-per-node={args.gpus_per_node}",
        f"--gpus-per-node={args.gpus_per_node}",
        f"--output={log}",
        "--open-mode=append",
        "--requeue",
        f"--array=0-{array - 1}" if array else f"--signal=B:USR1@{REQUEUE_WARNING_S}",
    ]
    for flag in ("time", "partition", "account"):
        value = getattr(args, f"slurm_{flag}")
        if value:
            sbatch.append(f"--{flag}={value}")
    sbatch += args.slurm_option
    lines = [
        "#!/bin/bash",
        f"# R-Drop recipe {name}, variant {variant}: {workers}. Written by the recipe",
        f"# (--slurm-nodes); write it again rather than edit it. Submit: sbatch {shlex.quote(path)}",
        *[f"#SBATCH {option}" for option in sbatch],
        "",
        # relative paths of the recipe (data, save dir) are relative to where it was written
        f"cd {shlex.quote(os.getcwd())}",
        f"PORT=$(({PORT_BASE} + SLURM_JOB_ID % {PORT_SPAN}))",
    ]
    if runtime_precision:
        lines += PRECISION_LINES
    lines.append(
        'echo "slurm: job ${SLURM_JOB_ID}, start $((${SLURM_RESTART_COUNT:-0} + 1)), nodes '
        '${SLURM_JOB_NODELIST}, port ${PORT}"'
    )
    return "\n".join([*lines, *body, ""])


def requeued_run(command):
    """A training's body: ``srun command``, requeued before the time limit to resume."""
    return [
        "# near the time limit: back into the queue; the next start resumes from",
        "# checkpoint_last.pt in the same --save-dir (fairseq's --restore-file default)",
        'trap \'echo "slurm: time limit near, requeueing job ${SLURM_JOB_ID}"; '
        'scontrol requeue "${SLURM_JOB_ID}"\' USR1',
        f"srun --kill-on-bad-exit=1 {command} &",
        # bash runs the trap only between commands: wait in the background-job form
        "wait $!",
    ]


def seed_array(seeds):
    """GLUE's body: for ``seeds`` ``[(seed, command, log)]``, array task i runs seed i's ``srun``
    into its log. A seed restarts from the pre-trained model (it saves no checkpoint): no requeue
    at the time limit, which would restart it forever; a preempted task trains its seed again."""
    lines = [
        "# one array task per seed; its log is written afresh at every start (a requeued",
        "# task trains its seed again from the pre-trained model)",
        'case "${SLURM_ARRAY_TASK_ID}" in',
    ]
    for index, (seed, command, log) in enumerate(seeds):
        lines += [
            f'    {index}) echo "slurm: seed {seed}, log {log}"',
            f"        srun --kill-on-bad-exit=1 {command} > {shlex.quote(log)} 2>&1 ;;",
        ]
    return [
        *lines,
        '    *) echo "slurm: error: no seed for array task ${SLURM_ARRAY_TASK_ID}" >&2; exit 2 ;;',
        "esac",
    ]


def write_script(path, text):
    """Write ``text`` to ``path``; an older, different script (perhaps edited) is kept as
    ``path.~N~``, whose name is returned."""
    kept = None
    if os.path.isfile(path):
        with open(path, encoding="utf-8") as handle:
            if handle.read() == text:
                return None
        kept = next(f"{path}.~{n}~" for n in itertools.count(1) if not os.path.exists(f"{path}.~{n}~"))
        os.replace(path, kept)
    write_lines(path, text.splitlines())  # atomic: never a half-written script
    os.chmod(path, 0o755)
    return kept


def write_job(prog, args, path, script, logs):
    """The end of every ``--slurm-nodes`` run: print the sbatch script (--dry-run), or write it to
    ``path`` and submit it (``logs``: where the job's logs go) or say how."""
    if args.dry_run:
        print(f"{prog}: sbatch script {path} (dry run: not written)\n{script}", end="", flush=True)
        return
    kept = write_script(path, script)
    if kept:
        print(f"{prog}: the previous script is kept as {kept}", flush=True)
    print(f"{prog}: wrote {path}", flush=True)
    if args.submit:
        print(f"{prog}: {submit(path)}; {logs}", flush=True)
    else:
        print(f"{prog}: submit with: sbatch {shlex.quote(path)}", flush=True)


def submit(path):
    sbatch = shutil.which("sbatch")
    if sbatch is None:
        raise RecipeError(
            f"--submit: sbatch not found on PATH; run on the cluster's login node, or submit {path}"
        )
    pipes = dict(stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    with children.started([sbatch, path], **pipes) as proc:
        out, err = proc.communicate()
    if proc.returncode != 0:
        detail = (err.strip().splitlines() or ["no message"])[-1]
        raise RecipeError(f"sbatch {path} failed (exit {proc.returncode}): {detail}")
    return out.strip()
