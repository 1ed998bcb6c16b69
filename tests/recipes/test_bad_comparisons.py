"""Bad input to compare, evaluate-lm and the README's own commands (issue 21): each ends in
the one-line error before any work starts (status 2, one ``error:`` line naming the fix, no
traceback, nothing written), or does the right thing."""

import glob
import os
import re

import pytest
import torch
from test_bad_inputs import fake_data_bin, one_error_line

from rdrop_recipes import compare, evaluate_lm
from rdrop_recipes.comparison.plan import Run, Settings
from rdrop_recipes.comparison.run_state import spec_of
from rdrop_recipes.config.recipe_config import REPO_ROOT as REPO
from rdrop_recipes.folders.atomic_files import write_json
from rdrop_recipes.folders.markers import COMPARISON_SPEC, SCORES, TRAINED

TRAIN_CFG = os.path.join(REPO, "configs", "train-multi30k.toml")
EVAL_CFG = os.path.join(REPO, "configs", "evaluate-multi30k.toml")
LM_EVAL_CFG = os.path.join(REPO, "configs", "evaluate-wikitext103.toml")


def status_and_error(main, argv, capsys, prog):
    """``main(argv)``'s exit status and its one error line (argparse's own exits too)."""
    try:
        code = main(argv)
    except SystemExit as stop:
        code = stop.code
    return code, one_error_line(capsys.readouterr().err, prog)


def compare_argv(data, out, *extra):
    return ["--config", TRAIN_CFG, "--eval-config", EVAL_CFG, "--data", data, "--out", str(out)] + [
        "--device",
        "cpu",
        *extra,
    ]


# -- compare: mismatches, tracebacks and checks that came after other runs had trained ------------

BAD_COMPARISONS = {
    "baseline typo": (["--baseline", "basline"], "did you mean baseline?"),
    "no baseline among the variants": (["--variants", "rdrop,no-kl"], "name one of them with --baseline"),
    "baseline not a variant": (["--baseline", "no-kl"], "is not one of --variants baseline,rdrop"),
    "unbalanced quote": (
        ["--variants", "baseline,a1", "--define", "a1=--variant rdrop --set 'lr=1"],
        "no closing quotation in its flags; balance the quotes",
    ),
    "a define not among the variants": (["--define", "a1=--variant rdrop"], "--variants baseline,rdrop,a1"),
    "a define given twice": (
        ["--variants", "baseline,a1"] + ["--define", "a1=--variant rdrop"] * 2,
        "given twice",
    ),
    "variant typo": (["--variants", "baseline,rdorp"], "did you mean rdrop?"),
    # the last variant's mistakes: before, found once the runs before it had trained
    "unknown flag of the last variant": (
        ["--variants", "baseline,rdrop,a1", "--define", "a1=--variant rdrop --reg-alpah 1"],
        "a1-seed1 (variant a1: --variant rdrop --reg-alpah 1) would not train: unrecognized arguments",
    ),
    "unknown key of the last variant": (
        ["--variants", "baseline,a1", "--define", "a1=--variant rdrop --set drpout=0.1"],
        "--set drpout",
    ),
    "unknown variant of a define": (
        ["--variants", "baseline,a1", "--define", "a1=--variant rdorp"],
        "unknown variant 'rdorp'",
    ),
    "a value of the wrong type": (
        ["--variants", "baseline,a1", "--define", "a1=--variant rdrop --reg-alpha x"],
        "would not train: argument --reg-alpha",
    ),
    "sbatch from a define": (
        ["--variants", "baseline,a1", "--define", "a1=--variant rdrop --slurm-nodes 2"],
        "leave them out of --define",
    ),
    "eval-set typo": (["--eval-set", "beem=5"], "--set beem"),
    "eval-set of the wrong type": (["--eval-set", "beam=five"], "expected an integer"),
    "no significance test": (["--bootstrap-samples", "0"], "must be >= 1"),
    "negative seed": (["--seeds", "1,-2"], "seeds are integers >= 0"),
    "a seed twice": (["--seeds", "1,2,1"], "seed 1 more than once"),
    "a seed numpy cannot take": (["--seeds", "4294967296"], "fix --seeds"),
}


@pytest.mark.parametrize("dry_run", [False, True], ids=["run", "dry-run"])
@pytest.mark.parametrize("case", list(BAD_COMPARISONS))
def test_compare_refuses_every_bad_run_before_the_first_starts(case, dry_run, tmp_path, capsys):
    extra, fix = BAD_COMPARISONS[case]
    data = fake_data_bin(tmp_path / "bin")
    out = tmp_path / "cmp"
    argv = compare_argv(data, out, *extra) + (["--dry-run"] if dry_run else [])
    code, error = status_and_error(compare.main, argv, capsys, "compare")
    assert code == 2 and fix in error, error
    assert not out.exists()  # no run started, no folder made


def finished_run(settings, variant, seed):
    """A run folder as compare leaves a finished run: its spec, trained, evaluated."""
    run = Run(
        variant, seed, os.path.join(settings.out, "runs", f"{variant}-seed{seed}"), ["--variant", variant]
    )
    os.makedirs(run.folder)
    write_json(os.path.join(run.folder, COMPARISON_SPEC), spec_of(run, settings))
    write_json(os.path.join(run.folder, TRAINED), {"finished": "2026-01-01T00:00:00"})
    open(os.path.join(run.folder, "checkpoint_best.pt"), "w").close()
    done = os.path.join(run.eval_dir, f"{run.name}-20260101-000000")
    os.makedirs(done)
    write_json(os.path.join(done, SCORES), {"bleu": {"score": 1.0}})
    return run


def test_the_dry_run_refuses_what_the_run_refuses(tmp_path, capsys):
    data = fake_data_bin(tmp_path / "bin")
    out = tmp_path / "cmp"
    common = dict(config=TRAIN_CFG, eval_config=EVAL_CFG, data=data, out=str(out), device="cpu")
    # runs finished with max_update=4: the same comparison finds them finished
    old = Settings(**common, assignments=("max_update=4",))
    for variant in ("baseline", "rdrop"):
        finished_run(old, variant, 1)
    argv = compare_argv(data, out, "--seeds", "1", "--set", "max_update=4", "--dry-run")
    assert compare.main(argv) == 0
    assert capsys.readouterr().out.count(": finished") == 2
    # with max_update=5 the run refuses them; so does the dry run, naming what changed (not ~700 characters)
    for dry in (["--dry-run"], []):
        argv = compare_argv(data, out, "--seeds", "1", "--set", "max_update=5", *dry)
        code, error = status_and_error(compare.main, argv, capsys, "compare")
        assert code == 2 and "run baseline-seed1" in error, error
        assert "now --set max_update=5, was --set max_update=4" in error and len(error) < 400, error
    assert not os.path.exists(out / "results")


# -- evaluate-lm: fairseq-eval-lm's crashes seen coming -----------------------------------


@pytest.fixture
def lm_bin(tmp_path):
    folder = tmp_path / "lm-bin"
    folder.mkdir()
    (folder / "dict.txt").write_text("")
    for ext in ("bin", "idx"):
        (folder / f"valid.{ext}").write_bytes(b"")
    return str(folder)


def lm_checkpoint(path, names):
    torch.save({"model": {name: torch.zeros(1) for name in names}, "optimizer_history": []}, path)
    return str(path)


LM = ["decoder.embed_tokens.weight"]
TRANSLATION = ["encoder.embed_tokens.weight", "decoder.embed_tokens.weight"]
BAD_LM_EVALUATIONS = {
    "window as long as the block": (
        LM,
        ["--set", "context_window=512"],
        "0 <= context_window < tokens_per_sample",
    ),
    "window longer after '--'": (LM, ["--", "--context-window", "600"], "context_window 600"),
    "block shorter than the window": (LM, ["--set", "tokens_per_sample=300"], "tokens_per_sample 300"),
    "negative window": (LM, ["--", "--context-window", "-1"], "0 <= context_window"),
    "a translation checkpoint": (TRANSLATION, [], "holds an encoder"),
}


@pytest.mark.parametrize("case", list(BAD_LM_EVALUATIONS))
def test_evaluate_lm_refuses_what_fairseq_eval_lm_would_crash_on(case, lm_bin, tmp_path, capsys):
    names, extra, fix = BAD_LM_EVALUATIONS[case]
    checkpoint = lm_checkpoint(tmp_path / "checkpoint_best.pt", names)
    results = tmp_path / "results"
    argv = ["--config", LM_EVAL_CFG, "--cpu", "--subsets", "valid", "--data", lm_bin]
    argv += ["--checkpoint", checkpoint, "--results-dir", str(results), *extra]
    code, error = status_and_error(evaluate_lm.main, argv, capsys, "evaluate-lm")
    assert code == 2 and fix in error, error
    assert not results.exists()  # refused before fairseq-eval-lm ran, no results folder begun


# -- the README's own commands ---------------------------------------------------------------


def fairseq_commands(text, tools):
    """Each command line of ``tools`` in the fenced code blocks of ``text``, continuations joined."""
    commands = []
    for block in re.findall(r"```[a-z]*\n(.*?)```", text, flags=re.S):
        for line in block.replace("\\\n", " ").splitlines():
            if line.strip().split(" ", 1)[0] in tools:
                commands.append(line.strip())
    return commands


def test_the_readmes_generate_commands_score_every_sentence():
    """fairseq 0.12 leaves up to 7 sentences of a test set untranslated when --batch-size is not
    a multiple of --required-batch-size-multiple (default 8; fairseq issue 5036)."""
    found = []
    for path in [os.path.join(REPO, "README.md")] + glob.glob(os.path.join(REPO, "docs", "*.md")):
        with open(path, encoding="utf-8") as f:
            for command in fairseq_commands(f.read(), ("fairseq-generate", "fairseq-interactive")):
                found.append(command)
                assert "--required-batch-size-multiple 1" in command, f"{path}: {command}"
    assert found  # the README's own fairseq-generate block is among them
