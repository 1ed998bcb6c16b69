"""SLURM: the sbatch script the training recipes write (``--slurm-nodes N
--gpus-per-node G``), its submission, and one run of it on the CPU through
fairseq's own SLURM set-up.

The CPU run gives ``bash train.sbatch`` what a SLURM job has: SLURM_JOB_ID,
SLURM_JOB_NODELIST, SLURM_NNODES, SLURM_NTASKS, a stand-in ``scontrol`` (prints
the host for ``show hostnames``) and a stand-in ``srun`` (starts SLURM_NTASKS
copies of its command with SLURM_PROCID set). fairseq derives the rendezvous
address, rank and world size from these itself. One departure from a real job:
every task gets SLURM_LOCALID=0, because for SLURM_LOCALID > 0 fairseq calls
``torch.cuda.set_device(SLURM_LOCALID)`` (fairseq/distributed/utils.py, in
``infer_init_method``, the ``cfg.device_id > 0`` branch), which a CPU-only torch
cannot do (AttributeError: torch._C has no _cuda_setDevice). SLURM_LOCALID feeds
nothing else on that path with ``--cpu --ddp-backend legacy_ddp``.
"""

import json
import os
import shlex
import socket
import stat
import subprocess
import sys

import pytest
import torch
from toy_corpus import binarized, fake_data_bin, tiny_arch

from rdrop_recipes import train
from rdrop_recipes.process.errors import RecipeError
from rdrop_recipes.training import slurm

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
IWSLT = os.path.join(REPO, "configs", "train-iwslt14.toml")
WMT = os.path.join(REPO, "configs", "train-wmt14.toml")


@pytest.fixture
def data_dir(tmp_path):
    return fake_data_bin(tmp_path / "bin", "en", "de")


def job(argv):
    return slurm.plan_job(train.parse_args(argv))


def srun_words(script):
    (line,) = [line for line in script.splitlines() if line.startswith("srun ")]
    assert line.endswith(" &")
    return shlex.split(line[: -len(" &")])


def last(words, flag):
    return words[len(words) - 1 - words[::-1].index(flag) + 1]


@pytest.mark.parametrize(
    "nodes, gpus, update_freq",
    [(1, 1, 128), (1, 8, 16), (2, 8, 8), (4, 4, 8), (16, 8, 1)],
)
def test_wmt_script_for_nodes_and_gpus(data_dir, tmp_path, nodes, gpus, update_freq):
    save = tmp_path / "run"
    plan, script, path = job(
        ["--config", WMT, "--data", data_dir, "--save-dir", str(save)]
        + ["--slurm-nodes", str(nodes), "--gpus-per-node", str(gpus), "--slurm-time", "2-00:00:00"]
    )
    assert path == str(save / "train.sbatch")
    assert plan.update_freq == update_freq
    header = [line[len("#SBATCH ") :] for line in script.splitlines() if line.startswith("#SBATCH ")]
    for option in (
        f"--nodes={nodes}",
        f"--ntasks-per-node={gpus}",  # one fairseq process per GPU
        f"--gpus-per-node={gpus}",
        f"--output={save / 'train.log'}",
        "--open-mode=append",
        "--requeue",
        "--signal=B:USR1@300",
        "--time=2-00:00:00",
    ):
        assert option in header, option
    assert script.startswith("#!/bin/bash\n")
    assert 'trap \'echo "slurm: time limit near, requeueing job ${SLURM_JOB_ID}"; scontrol requeue' in script

    words = srun_words(script)
    assert words[:5] == ["srun", "--kill-on-bad-exit=1", sys.executable, "-m", "fairseq_cli.train"]
    assert last(words, "--update-freq") == str(update_freq)
    assert last(words, "--distributed-world-size") == str(nodes * gpus)
    assert last(words, "--max-tokens") == "4096"
    # resume: every (re)start runs with the same save dir and fairseq's default restore file
    assert last(words, "--save-dir") == str(save)
    assert not any(w.startswith(("--restore-file", "--reset-", "--finetune-from-model")) for w in words)
    assert last(words, "--tensorboard-logdir") == str(save / "tensorboard")
    # precision "auto" is decided on the cluster's GPU, by the recipe's own rule, in the
    # script's shell: the job runs no recipe code
    assert "${PRECISION}" in words
    assert "\n".join(slurm.PRECISION_LINES) in script
    assert "rdrop_recipes" not in script
    if nodes * gpus > 1:
        assert last(words, "--distributed-port") == "${PORT}"
        assert "PORT=$((20000 + SLURM_JOB_ID % 20000))" in script
    else:
        assert "--distributed-port" not in words


def test_explicit_precision_and_extra_flags_keep_their_place(data_dir, tmp_path):
    _, script, _ = job(
        ["--config", WMT, "--data", data_dir, "--save-dir", str(tmp_path / "r")]
        + ["--slurm-nodes", "2", "--gpus-per-node", "4", "--set", "precision=bf16"]
        + ["--slurm-partition", "gpu", "--slurm-account", "nlp", "--slurm-option=--constraint=a100"]
        + ["--", "--max-update", "7"]
    )
    words = srun_words(script)
    assert "--bf16" in words and "${PRECISION}" not in words and "nvidia-smi" not in script
    assert words[-2:] == ["--max-update", "7"]  # after `--`: last, so it wins
    for option in ("--partition=gpu", "--account=nlp", "--constraint=a100"):
        assert f"#SBATCH {option}\n" in script


def test_iwslt_runs_on_one_gpu_under_slurm(data_dir, tmp_path):
    plan, script, _ = job(
        ["--config", IWSLT, "--data", data_dir, "--save-dir", str(tmp_path / "r")]
        + ["--slurm-nodes", "1", "--gpus-per-node", "1"]
    )
    words = srun_words(script)
    assert words.count("--distributed-world-size") == 1 and last(words, "--distributed-world-size") == "1"
    assert "--distributed-port" not in words and "--update-freq" not in words
    with pytest.raises(RecipeError, match="trains on one GPU"):
        job(["--config", IWSLT, "--data", data_dir, "--slurm-nodes", "1", "--gpus-per-node", "2"])


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--slurm-nodes", "2"], "needs --gpus-per-node"),
        (["--slurm-nodes", "0", "--gpus-per-node", "8"], "--slurm-nodes must be >= 1"),
        (["--slurm-nodes", "2", "--gpus-per-node", "8", "--nnodes", "2"], "two launchers"),
        (["--slurm-nodes", "1", "--gpus-per-node", "8", "--device", "cpu"], "trains on GPUs"),
        (["--submit"], "--submit need"),
        (["--slurm-time", "1:00:00"], "--slurm-time need"),
        (["--slurm-nodes", "3", "--gpus-per-node", "1"], "3 GPU"),  # 524288 / 4096 / 3
        (["--slurm-nodes", "1", "--gpus-per-node", "8", "--slurm-option", "--a\n#SBATCH --b"], "line break"),
    ],
)
def test_impossible_jobs_are_one_clear_error(data_dir, extra, message):
    with pytest.raises(RecipeError, match=message):
        job(["--config", WMT, "--data", data_dir] + extra)


def run_train(*args, env=None):
    return subprocess.run(
        [sys.executable, "-m", "rdrop_recipes.train", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        env=env,
    )


def test_dry_run_prints_the_script_and_writes_nothing(data_dir, tmp_path):
    proc = subprocess.run(
        ["bash", os.path.join(REPO, "scripts", "train-wmt14.sh"), "--data", data_dir]
        + ["--save-dir", str(tmp_path / "r"), "--slurm-nodes", "2", "--gpus-per-node", "8", "--dry-run"],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    assert "16 worker(s) x 4096 tokens x update_freq 8 = 524288 tokens per update" in proc.stdout
    assert "#SBATCH --nodes=2" in proc.stdout and "srun --kill-on-bad-exit=1 " in proc.stdout
    assert not (tmp_path / "r").exists()


def write_tool(folder, name, body):
    path = folder / name
    path.write_text("#!/usr/bin/env bash\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


def test_submit_runs_sbatch_on_the_written_script_and_keeps_an_edited_one(data_dir, tmp_path):
    tools = tmp_path / "tools"
    tools.mkdir()
    write_tool(tools, "sbatch", 'echo "$@" >> "$(dirname "$0")/calls"; echo "Submitted batch job 77"\n')
    env = dict(os.environ, PATH=f"{tools}{os.pathsep}{os.environ['PATH']}")
    save = tmp_path / "r"
    argv = ["--config", WMT, "--data", data_dir, "--save-dir", str(save), "--slurm-nodes", "1"]
    proc = run_train(*argv, "--gpus-per-node", "8", "--submit", env=env)
    assert proc.returncode == 0, proc.stderr
    script = save / "train.sbatch"
    assert (tools / "calls").read_text() == f"{script}\n"
    assert "Submitted batch job 77" in proc.stdout
    assert os.access(script, os.X_OK) and "#SBATCH --gpus-per-node=8" in script.read_text()

    script.write_text(script.read_text() + "# my note\n")  # the user edited it
    proc = run_train(*argv, "--gpus-per-node", "4", env=env)
    assert proc.returncode == 0, proc.stderr
    assert "#SBATCH --gpus-per-node=4" in script.read_text()
    assert (save / "train.sbatch.~1~").read_text().endswith("# my note\n")
    assert (tools / "calls").read_text().count("\n") == 1  # no --submit, no sbatch


def test_submit_without_sbatch_is_one_clear_line(data_dir, tmp_path):
    env = dict(os.environ, PATH=os.path.dirname(sys.executable))
    proc = run_train(
        "--config", WMT, "--data", data_dir, "--save-dir", str(tmp_path / "r"),
        "--slurm-nodes", "1", "--gpus-per-node", "8", "--submit", env=env,
    )  # fmt: skip
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1].startswith("train: error: --submit: sbatch not found on PATH")


def precision_on_the_node(tmp_path, nvidia_smi):
    """The script's precision lines run with ``nvidia_smi`` as the node's nvidia-smi."""
    tools = tmp_path / "node"
    tools.mkdir(exist_ok=True)
    write_tool(tools, "nvidia-smi", nvidia_smi)
    snippet = "\n".join(slurm.PRECISION_LINES) + '\necho "${PRECISION}"\n'
    env = dict(os.environ, PATH=f"{tools}{os.pathsep}{os.environ['PATH']}")
    return subprocess.run(["bash", "-c", snippet], capture_output=True, text=True, env=env)


QUERY = '[ "$*" = "--query-gpu=compute_cap --format=csv,noheader" ] || exit 9\n'


@pytest.mark.parametrize(
    "capabilities, flag",
    [("9.0", "--bf16"), ("8.0", "--bf16"), ("8.6\n8.6", "--bf16"), ("7.0", "--fp16"), ("7.5", "--fp16")],
)
def test_precision_auto_is_decided_by_the_nodes_gpu(tmp_path, capabilities, flag):
    proc = precision_on_the_node(tmp_path, QUERY + f"printf '{capabilities}\\n'\n")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == f"{flag}\n"


def test_precision_flag_without_a_gpu_is_one_clear_line(tmp_path):
    proc = precision_on_the_node(tmp_path, 'echo "NVIDIA-SMI has failed" >&2; exit 9\n')
    assert proc.returncode == 2 and proc.stdout == ""
    (line,) = proc.stderr.strip().splitlines()
    assert line.startswith("slurm: error: ") and "GPU" in line


# --- one real job on the CPU -------------------------------------------------------------

SRUN = """\
# stand-in for srun on one node: SLURM_NTASKS copies of the command, each with its
# SLURM_PROCID; like --kill-on-bad-exit, one failing task stops the others
while [[ "$1" == --* ]]; do shift; done
for ((i = 0; i < SLURM_NTASKS; i++)); do
    SLURM_PROCID=$i SLURM_LOCALID=0 SLURM_NODEID=0 "$@" &
done
status=0
for ((i = 0; i < SLURM_NTASKS; i++)); do
    wait -n || { status=$?; kill $(jobs -p) 2>/dev/null; }
done
exit $status
"""
SCONTROL = '[ "$1 $2" = "show hostnames" ] && echo "$3"\n'
TINY = [
    "--set", "source_lang=src", "--set", "target_lang=tgt", "--set", "arch=transformer",
    "--set", "precision=fp32", "--set", "max_tokens=512", "--set", "tokens_per_update=1024",
    "--set", "max_update=1", "--set", "log_interval=1", "--set", "log_format=json",
    "--set", "optimizer=sgd", "--set", "adam_betas=false", "--set", "lr=0.5", "--set", "warmup_updates=1",
    # no dropout: each worker draws its own masks, so only then are the two runs equal
    "--set", "dropout=0.0", "--set", "attention_dropout=0.0", "--set", "activation_dropout=0.0",
    "--", *tiny_arch(),
    # CPU: gloo, and fairseq's own gradient all-reduce (torch's DDP wants device_ids on a GPU)
    "--cpu", "--distributed-backend", "gloo", "--ddp-backend", "legacy_ddp",
    "--disable-validation", "--num-workers", "0",
]  # fmt: skip


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    root = tmp_path_factory.mktemp("slurm")
    binarized(str(root), train=300)
    tools = root / "tools"
    tools.mkdir()
    write_tool(tools, "srun", SRUN)
    write_tool(tools, "scontrol", SCONTROL)
    return root


def job_id_with_a_free_port():
    """A SLURM_JOB_ID whose port (the script's 20000 + id % 20000) is free now."""
    for job_id in range(os.getpid() % 20000, 20000 * 2, 7919):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", 20000 + job_id % 20000))
                return job_id
            except OSError:
                continue
    raise AssertionError("no free port")


def run_job(toy, name, gpus):
    save = toy / name
    _, script, path = job(
        ["--config", WMT, "--data", str(toy / "bin"), "--save-dir", str(save)]
        + ["--slurm-nodes", "1", "--gpus-per-node", str(gpus), *TINY]
    )
    slurm.write_script(path, script)
    env = dict(os.environ, OMP_NUM_THREADS="1", PATH=f"{toy / 'tools'}{os.pathsep}{os.environ['PATH']}")
    for key in ("MASTER_ADDR", "MASTER_PORT", "WORLD_SIZE", "RANK", "LOCAL_RANK"):
        env.pop(key, None)  # torchrun's variables would take precedence over SLURM's in fairseq
    job_id = job_id_with_a_free_port()
    env.update(
        SLURM_JOB_ID=str(job_id), SLURM_JOB_NODELIST="localhost", SLURM_NNODES="1", SLURM_NTASKS=str(gpus)
    )
    proc = subprocess.run(["bash", path], capture_output=True, text=True, env=env, timeout=300)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-3000:]
    assert f"slurm: job {job_id}, start 1, nodes localhost, port {20000 + job_id % 20000}" in output
    return output, save


def first_update(output):
    for line in output.splitlines():
        start = line.find('{"epoch"')
        if start >= 0 and '"num_updates": "1"' in line and "train_inner" in line:
            return {k: float(v) for k, v in json.loads(line[start:]).items() if k != "epoch"}
    raise AssertionError("no train_inner record for update 1 in:\n" + output[-3000:])


@pytest.mark.slow
def test_two_slurm_tasks_train_what_one_gpu_with_update_freq_2_does(toy):
    one, one_dir = run_job(toy, "one", gpus=1)  # update_freq 2 over the same 1024 tokens
    two, two_dir = run_job(toy, "two", gpus=2)  # update_freq 1
    assert "distributed init (rank 0): tcp://localhost:" in two
    assert "Rank 1, device_id: 0" in two
    single, parallel = first_update(one), first_update(two)
    for key in ("loss", "nll_loss", "kl_loss", "gnorm", "wpb", "bsz"):
        assert parallel[key] == pytest.approx(single[key], rel=1e-3, abs=1e-3), key
    a, b = (
        torch.load(d / "checkpoint_last.pt", map_location="cpu", weights_only=False)["model"]
        for d in (one_dir, two_dir)
    )
    assert a.keys() == b.keys()
    for name in a:
        torch.testing.assert_close(b[name], a[name], rtol=1e-4, atol=1e-5, msg=name)
