"""Bad input a new user gives in the first hour, one test per class: each ends in
the one-line error (status 2, one ``error:`` line, no traceback) or the right
result, and nothing of the user's is deleted or left looking complete."""

import os
import signal
import subprocess
import sys
import textwrap
import time

import fabricate_corpora  # noqa: E402
import pytest
import torch
from toy_corpus import binarized, tiny_arch  # noqa: E402

from rdrop_recipes import average_checkpoints, evaluate, prepare_iwslt14, train
from rdrop_recipes.config.recipe_config import REPO_ROOT as REPO  # noqa: E402
from rdrop_recipes.evaluation import evaluated_checkpoints
from rdrop_recipes.folders import run_dirs
from rdrop_recipes.folders.markers import QUICKSTART_MARKER
from rdrop_recipes.preparation.iwslt14 import Iwslt14Recipe
from rdrop_recipes.toy.quickstart_run import claim_out_dir
from rdrop_recipes.training.hardware import Hardware
from rdrop_recipes.training.plan import build_plan

IWSLT_TRAIN = os.path.join(REPO, "configs", "train-iwslt14.toml")
IWSLT_EVAL = os.path.join(REPO, "configs", "evaluate-iwslt14.toml")


def one_error_line(stderr, prog):
    """The one ``prog: error: ...`` line of ``stderr`` (and no traceback)."""
    assert "Traceback" not in stderr, stderr
    errors = [line for line in stderr.splitlines() if "error:" in line]
    assert len(errors) == 1 and errors[0].startswith(f"{prog}: error: "), stderr
    return errors[0]


def run_cli(module, *args, cwd=REPO):
    return subprocess.run(
        [sys.executable, "-m", f"rdrop_recipes.{module}", *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        env=dict(os.environ, OMP_NUM_THREADS="1"),
    )


def fake_data_bin(folder, splits=("train", "valid", "test"), pair=("de", "en")):
    """A folder shaped like fairseq-preprocess output (empty files: nothing here reads them)."""
    os.makedirs(folder, exist_ok=True)
    for lang in pair:
        open(os.path.join(folder, f"dict.{lang}.txt"), "w").close()
        for split in splits:
            for ext in ("bin", "idx"):
                open(os.path.join(folder, f"{split}.{pair[0]}-{pair[1]}.{lang}.{ext}"), "w").close()
    return str(folder)


def checkpoint(path, value, updates):
    torch.save({"model": {"w": torch.tensor([value])}, "optimizer_history": [{"num_updates": updates}]}, path)
    return str(path)


# -- 1. nothing the user owns is deleted ------------------------------------------------


def test_quickstart_never_deletes_a_users_folder(tmp_path):
    mine = tmp_path / "notes"
    mine.mkdir()
    (mine / "thesis.txt").write_text("three years of work")
    proc = run_cli("quickstart", "--out", mine, "--updates", "1")
    assert proc.returncode == 2
    assert "did not write" in one_error_line(proc.stderr, "quickstart")
    assert os.listdir(mine) == ["thesis.txt"] and (mine / "thesis.txt").read_text() == "three years of work"
    # `--out .` in a folder with anything in it is the same refusal
    proc = run_cli("quickstart", "--out", ".", "--updates", "1", cwd=mine)
    assert proc.returncode == 2 and os.listdir(mine) == ["thesis.txt"]


def test_quickstart_rerun_replaces_only_its_own_outputs(tmp_path):
    out = tmp_path / "qs"
    claim_out_dir(str(out))  # a first run's folder, with its outputs and a user's note
    (out / "scores.json").write_text("{}")
    (out / "checkpoints").mkdir()
    (out / "checkpoints" / "checkpoint_best.pt").write_bytes(b"x")
    (out / "my-notes.md").write_text("keep me")
    claim_out_dir(str(out))
    assert sorted(os.listdir(out)) == [QUICKSTART_MARKER, "my-notes.md"]


# -- 2. runs with other settings never share a save dir silently -------------------------------


def planned_save_dir(data, *flags):
    return build_plan(train.parse_args(["--config", IWSLT_TRAIN, "--data", data, *flags]), Hardware("cpu"))


def test_ablations_get_their_own_save_dir(tmp_path):
    data = fake_data_bin(tmp_path / "bin")
    plain = planned_save_dir(data).save_dir
    a5 = planned_save_dir(data, "--reg-alpha", "5").save_dir  # the config's own value
    a05 = planned_save_dir(data, "--reg-alpha", "0.5").save_dir
    lr = planned_save_dir(data, "--reg-alpha", "0.5", "--set", "lr=7e-4").save_dir
    extra = planned_save_dir(data, "--reg-alpha", "0.5", "--", "--encoder-layers", "2").save_dir
    assert plain == a5 == "checkpoints/iwslt14-rdrop"
    assert a05.startswith("checkpoints/iwslt14-rdrop-reg_alpha0.5-")
    assert len({plain, a05, lr, extra}) == 4
    # logging and stopping flags continue the same run
    assert planned_save_dir(data, "--set", "max_update=10", "--set", "log_interval=1").save_dir == plain


def test_resuming_checkpoints_of_other_settings_is_refused(tmp_path, capsys):
    data = fake_data_bin(tmp_path / "bin")
    save = tmp_path / "ck"
    save.mkdir()
    (save / "checkpoint_last.pt").write_bytes(b"from an earlier run")
    args = ["--config", IWSLT_TRAIN, "--data", data, "--save-dir", str(save), "--device", "cpu", "--dry-run"]

    assert train.main(args) == 2  # checkpoints but no record of their settings
    assert "settings are unknown" in one_error_line(capsys.readouterr().err, "train")

    run_dirs.record(str(save), planned_save_dir(data, "--reg-alpha", "5").settings, "an earlier command")
    before = (save / run_dirs.RUN_CONFIG).read_text()
    assert train.main([*args, "--reg-alpha", "5"]) == 0  # the same settings resume
    capsys.readouterr()
    assert train.main([*args, "--reg-alpha", "0.5"]) == 2
    line = one_error_line(capsys.readouterr().err, "train")
    assert "fairseq.reg_alpha: 5.0 -> 0.5" in line and run_dirs.ALLOW_FLAG in line
    assert (save / run_dirs.RUN_CONFIG).read_text() == before
    assert sorted(os.listdir(save)) == ["checkpoint_last.pt", run_dirs.RUN_CONFIG]
    assert train.main([*args, "--reg-alpha", "0.5", run_dirs.ALLOW_FLAG]) == 0
    assert "resuming it anyway" in capsys.readouterr().out


# -- 3. a corrupt archive fails before anything is marked done -----------------------------------


@pytest.mark.parametrize("where", [0.2, 0.5, 0.8, -8, -3])
def test_one_flipped_bit_in_the_archive_is_caught(tmp_path, capsys, where):
    archive = tmp_path / "de-en.tgz"
    fabricate_corpora.make_iwslt_archive(str(archive))
    data = bytearray(archive.read_bytes())
    position = int(len(data) * where) if where > 0 else len(data) + where  # body, then CRC and length
    data[position] ^= 0x10
    archive.write_bytes(bytes(data))
    out = tmp_path / "out"
    status = prepare_iwslt14.main(["--archive", str(archive), "--out-dir", str(out), "--workers", "1"])
    assert status == 2
    assert "corrupt or truncated" in one_error_line(capsys.readouterr().err, "prepare-iwslt14")
    assert not os.path.exists(out / ".prepare" / "extract.done")
    extracted = [f for _, _, files in os.walk(out / "orig") for f in files]
    assert extracted == []  # no member under its final name, no temporary file left


# -- 4. every file the user names is checked before torch or fairseq reads it -------------------


@pytest.mark.parametrize("content", ["empty", "truncated", "not a checkpoint", "a bare tensor"])
def test_averaging_a_file_that_is_not_a_checkpoint(tmp_path, capsys, content):
    good = checkpoint(tmp_path / "checkpoint_1_10.pt", 1.0, 10)
    bad = tmp_path / "checkpoint_2_20.pt"
    if content == "a bare tensor":
        torch.save(torch.zeros(3), bad)
    else:
        whole = open(good, "rb").read()
        bad.write_bytes(
            {"empty": b"", "truncated": whole[: len(whole) // 2], "not a checkpoint": b"<html>"}[content]
        )
    output = tmp_path / "avg.pt"
    assert average_checkpoints.main(["--inputs", good, str(bad), "--output", str(output)]) == 2
    one_error_line(capsys.readouterr().err, "average_checkpoints")
    assert sorted(os.listdir(tmp_path)) == ["checkpoint_1_10.pt", "checkpoint_2_20.pt"]


def test_evaluating_a_truncated_checkpoint(tmp_path, capsys):
    data = fake_data_bin(tmp_path / "bin")
    whole = open(checkpoint(tmp_path / "c.pt", 1.0, 1), "rb").read()
    (tmp_path / "c.pt").write_bytes(whole[:100])
    results = tmp_path / "results"
    args = ["--config", IWSLT_EVAL, "--data", data, "--checkpoint", str(tmp_path / "c.pt")]
    assert evaluate.main([*args, "--results-dir", str(results), "--device", "cpu"]) == 2
    assert "not a torch checkpoint" in one_error_line(capsys.readouterr().err, "evaluate")
    assert not results.exists() or os.listdir(results) == []


def test_a_glob_counts_best_and_last_once(tmp_path):
    checkpoint(tmp_path / "checkpoint_1_10.pt", 1.0, 10)
    checkpoint(tmp_path / "checkpoint_2_20.pt", 4.0, 20)
    for copy in ("checkpoint_best.pt", "checkpoint_last.pt"):  # fairseq's copies of update 20
        checkpoint(tmp_path / copy, 4.0, 20)
    output = tmp_path / "avg" / "avg.pt"
    assert average_checkpoints.main(["--inputs", str(tmp_path / "*.pt"), "--output", str(output)]) == 0
    assert torch.load(output, weights_only=False)["model"]["w"].item() == 2.5  # (1 + 4) / 2, not (1+4+4+4)/4


def test_output_equal_to_an_input_or_existing_is_refused(tmp_path, capsys):
    first = checkpoint(tmp_path / "checkpoint_1_10.pt", 1.0, 10)
    second = checkpoint(tmp_path / "checkpoint_2_20.pt", 3.0, 20)
    before = open(second, "rb").read()
    assert average_checkpoints.main(["--inputs", first, second, "--output", second]) == 2
    assert "is one of the inputs" in one_error_line(capsys.readouterr().err, "average_checkpoints")
    mine = tmp_path / "mine.pt"
    mine.write_bytes(b"my own file")
    assert average_checkpoints.main(["--inputs", first, second, "--output", str(mine)]) == 2
    assert "--overwrite" in one_error_line(capsys.readouterr().err, "average_checkpoints")
    assert open(second, "rb").read() == before and mine.read_bytes() == b"my own file"


# -- 5. parameters that cannot work are refused before any stage starts ------------------------


@pytest.mark.parametrize(
    "flags",
    [
        ["--bpe-merges", "0"],
        ["--set", "split.valid_every=0"],
        ["--workers", "-2"],
        ["--set", "clean.ratio=0.5"],
    ],
)
def test_prepare_parameter_that_cannot_work(tmp_path, capsys, flags):
    archive = tmp_path / "de-en.tgz"
    fabricate_corpora.make_iwslt_archive(str(archive))
    out = tmp_path / "out"
    assert prepare_iwslt14.main(["--archive", str(archive), "--out-dir", str(out), *flags]) == 2
    assert "must be >=" in one_error_line(capsys.readouterr().err, "prepare-iwslt14")
    assert not out.exists()


@pytest.mark.parametrize(
    "module,args",
    [
        ("quickstart", ["--updates", "0"]),
        ("average_checkpoints", ["--dir", ".", "--last", "0", "--output", "x.pt"]),
        ("evaluate", ["--config", IWSLT_EVAL, "--average-last", "-1"]),
    ],
)
def test_recipe_count_that_cannot_work(tmp_path, module, args):
    if module == "evaluate":
        args = [*args, "--data", fake_data_bin(tmp_path / "bin")]
    proc = run_cli(module, *args, cwd=tmp_path)
    assert proc.returncode == 2 and ">= " in one_error_line(proc.stderr, module)
    assert os.listdir(tmp_path) == (["bin"] if module == "evaluate" else [])


# -- 6. a data folder without the split binaries a command reads ---------------------------------


def test_data_folder_with_dictionaries_only(tmp_path):
    half = fake_data_bin(tmp_path / "half", splits=())
    proc = run_cli("train", "--config", IWSLT_TRAIN, "--data", half, "--dry-run", "--device", "cpu")
    assert proc.returncode == 2 and "no binarized 'train' split" in one_error_line(proc.stderr, "train")
    no_test = fake_data_bin(tmp_path / "no-test", splits=("train", "valid"))
    checkpoint(tmp_path / "c.pt", 1.0, 1)
    proc = run_cli("evaluate", "--config", IWSLT_EVAL, "--data", no_test, "--checkpoint", tmp_path / "c.pt")
    assert proc.returncode == 2 and "no binarized 'test' split" in one_error_line(proc.stderr, "evaluate")


# -- 6b. a path the system refuses: one line too ----------------------------------------------


def test_a_file_where_a_folder_must_be(tmp_path, capsys):
    in_the_way = tmp_path / "afile"
    in_the_way.write_text("mine")
    data = fake_data_bin(tmp_path / "bin")
    ckpt = checkpoint(tmp_path / "checkpoint_1_1.pt", 1.0, 1)
    archive = str(tmp_path / "de-en.tgz")
    fabricate_corpora.make_iwslt_archive(archive)
    calls = {
        "evaluate": lambda: evaluate.main(
            ["--config", IWSLT_EVAL, "--data", data, "--checkpoint", ckpt, "--results-dir", str(in_the_way)]
        ),
        "average_checkpoints": lambda: average_checkpoints.main(
            ["--inputs", ckpt, "--output", str(in_the_way / "avg.pt")]
        ),
        "train": lambda: train.main(
            ["--config", IWSLT_TRAIN, "--data", data, "--save-dir", str(in_the_way), "--device", "cpu"]
        ),
        "prepare-iwslt14": lambda: prepare_iwslt14.main(["--archive", archive, "--out-dir", str(in_the_way)]),
    }
    for prog, call in calls.items():
        assert call() == 2, prog
        line = one_error_line(capsys.readouterr().err, prog)
        assert "afile" in line, line
    # --data-bin is written by the last stage: refused before the first
    assert (
        prepare_iwslt14.main(
            ["--archive", archive, "--out-dir", str(tmp_path / "o"), "--data-bin", str(in_the_way)]
        )
        == 2
    )
    assert "--data-bin" in one_error_line(capsys.readouterr().err, "prepare-iwslt14")
    assert not (tmp_path / "o").exists()
    assert in_the_way.read_text() == "mine"


def test_node_counts_that_cannot_work(tmp_path):
    proc = run_cli("train", "--config", IWSLT_TRAIN, "--nnodes", "0", "--dry-run", cwd=tmp_path)
    assert proc.returncode == 2 and "--nnodes: must be >= 1 (got 0)" in one_error_line(proc.stderr, "train")


def test_missing_bpe_code_is_refused_before_any_stage(tmp_path, capsys):
    archive = tmp_path / "de-en.tgz"
    fabricate_corpora.make_iwslt_archive(str(archive))
    args = [
        "--archive",
        str(archive),
        "--out-dir",
        str(tmp_path / "out"),
        "--bpe-code",
        str(tmp_path / "nope"),
    ]
    assert prepare_iwslt14.main(args) == 2
    assert "BPE code" in one_error_line(capsys.readouterr().err, "prepare-iwslt14")
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_a_plugin_error_inside_fairseq_train_is_the_recipes_one_line(tmp_path):
    data = binarized(str(tmp_path), train=50)
    args = ["--config", IWSLT_TRAIN, "--data", data, "--save-dir", tmp_path / "ck", "--device", "cpu"]
    # after "--": the recipe passes it verbatim (its own check would refuse it first), so the
    # error comes from the plugin inside fairseq-train
    args += ["--set", "source_lang=src", "--set", "target_lang=tgt", "--", *tiny_arch(), "--reg-every", "0"]
    proc = run_cli("train", *args)
    line = one_error_line(proc.stderr, "train")
    assert proc.returncode == 2 and "rdrop_fairseq: error: --reg-every must be >= 1" in line
    assert not list((tmp_path / "ck").glob("checkpoint*.pt"))


# -- 7. children die with their parent -----------------------------------------------------------

PARENT = textwrap.dedent(
    """
    import sys
    from rdrop_recipes.process import children
    from rdrop_recipes.process.exit import exits_cleanly

    @exits_cleanly("parent")
    def main(argv):
        child = "import os, time; open(sys.argv[1], 'w').write(str(os.getpid())); time.sleep(120)"
        children.run([sys.executable, "-c", "import sys\\n" + child, argv[0]])

    sys.exit(main(sys.argv[1:]))
    """
)


@pytest.mark.parametrize("signum,status", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_killing_a_recipe_stops_its_child(tmp_path, signum, status):
    pid_file = tmp_path / "child.pid"
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT, str(pid_file)], cwd=REPO, stderr=subprocess.PIPE, text=True
    )
    deadline = time.time() + 60
    while not (pid_file.exists() and pid_file.read_text()) and time.time() < deadline:
        time.sleep(0.1)
    child = int(pid_file.read_text())
    parent.send_signal(signum)
    assert parent.wait(timeout=30) == status
    assert parent.stderr.read().strip() == "parent: interrupted"
    with pytest.raises(ProcessLookupError):
        os.kill(child, 0)  # gone (reaped by its parent before that exited)


def test_worker_pools_end_normally_under_the_signal_handler():
    # forked pool workers inherit the recipe's SIGTERM handler; Pool stops them with SIGTERM
    probe = textwrap.dedent(
        """
        import sys
        from rdrop_recipes.process.exit import exits_cleanly
        from rdrop_recipes.text.parallel_lines import map_lines

        class Upper:
            def build(self):
                return str.upper

        @exits_cleanly("probe")
        def main(argv):
            print(len(list(map_lines(Upper(), ["a"] * 5000, workers=2, chunk_lines=100))))

        sys.exit(main(None))
        """
    )
    proc = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and proc.stdout.strip() == "5000", proc.stderr


SLOW_POOL = textwrap.dedent(
    """
    import sys, time
    from rdrop_recipes.process.exit import exits_cleanly
    from rdrop_recipes.text.parallel_lines import map_lines

    class Slow:
        def build(self):
            return lambda line: time.sleep(0.01) or line

    @exits_cleanly("probe")
    def main(argv):
        print("started", flush=True)
        for _ in map_lines(Slow(), ["a"] * 100000, workers=2, chunk_lines=10):
            pass

    sys.exit(main(None))
    """
)


def test_ctrl_c_reaching_a_pool_leaves_one_line_and_no_worker():
    # Ctrl-C in a terminal reaches the whole process group: the recipe and its pool workers
    proc = subprocess.Popen(
        [sys.executable, "-c", SLOW_POOL],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    assert proc.stdout.readline().strip() == "started"
    time.sleep(1.0)
    os.killpg(proc.pid, signal.SIGINT)
    assert proc.wait(timeout=60) == 130
    assert proc.stderr.read().strip() == "probe: interrupted"  # no worker traceback
    time.sleep(0.5)
    group = subprocess.run(["pgrep", "-g", str(proc.pid)], capture_output=True, text=True).stdout.split()
    assert group == []


def test_recipes_start_processes_only_through_children():
    root = os.path.join(REPO, "rdrop_recipes")
    paths = [
        os.path.join(folder, n) for folder, _, names in os.walk(root) for n in names if n.endswith(".py")
    ]
    assert len(paths) > 40, "the walk sees the library's subpackages"
    for path in sorted(paths):
        name = os.path.relpath(path, root)
        if name == os.path.join("process", "children.py"):
            continue
        with open(path, encoding="utf-8") as handle:
            source = handle.read()
        for line in source.splitlines():  # a short command whose output is read whole may use run()
            starts = any(call in line for call in ("subprocess.call(", "subprocess.Popen(", "os.system("))
            starts |= "subprocess.run(" in line and "capture_output=True" not in line
            assert not starts, f"{name} starts a process without children.run: {line.strip()}"


# -- 8. a checkpoint used without --user-dir ----------------------------------------------------


def test_generate_without_the_plugin_names_the_flag():
    # what fairseq-generate ends with on an R-Drop checkpoint without --user-dir (torch >= 2.6)
    line = "\tWeightsUnpickler error: Unsupported global: GLOBAL argparse.Namespace was not an allowed global"
    hint = evaluated_checkpoints.plugin_hint(["...", line])
    assert "--user-dir" in hint and evaluated_checkpoints.PLUGIN_DIR in hint
    assert "--user-dir" in evaluated_checkpoints.plugin_hint(["KeyError: 'rdrop_translation'"])
    assert evaluated_checkpoints.plugin_hint(["KeyError: 'model'"]) == ""


# -- 9. Ctrl-C in the middle of a stage ---------------------------------------------------------


def test_interrupted_stage_is_not_marked_done(tmp_path, capsys, monkeypatch):
    archive = tmp_path / "de-en.tgz"
    fabricate_corpora.make_iwslt_archive(str(archive))
    out = tmp_path / "out"

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(Iwslt14Recipe, "clean_train", interrupted)
    assert prepare_iwslt14.main(["--archive", str(archive), "--out-dir", str(out), "--workers", "1"]) == 130
    assert "interrupted" in capsys.readouterr().err
    done = sorted(os.listdir(out / ".prepare"))
    assert "clean-train.done" not in done and "tokenize-train.done" in done
    assert not [f for _, _, files in os.walk(out) for f in files if f.endswith(".tmp")]
