"""What the tests that run fairseq share: the toy corpus binarized by
fairseq-preprocess, and the flags of a tiny transformer."""

import os
import subprocess
import sys

from rdrop_recipes.toy.task import write_corpus

BIN = os.path.dirname(sys.executable)
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def run_script(script, *args, env=None, cwd=REPO):
    """``bash scripts/<script> args`` (from the repository root), as a user runs it."""
    return subprocess.run(
        ["bash", os.path.join(REPO, "scripts", script), *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=env,
    )


def tiny_arch(layers=1, dim=32, heads=2):
    """Size flags of a transformer small enough to train in seconds on a CPU."""
    flags = []
    for side in ("encoder", "decoder"):
        flags += [f"--{side}-layers", str(layers), f"--{side}-embed-dim", str(dim)]
        flags += [f"--{side}-ffn-embed-dim", str(2 * dim), f"--{side}-attention-heads", str(heads)]
    return flags


def binarized(root, train=400, test=None, splits=("train", "valid")):
    """``root/raw`` (the toy corpus) binarized into ``root/bin``; its path."""
    raw, data_bin = os.path.join(root, "raw"), os.path.join(root, "bin")
    counts = {"train": train} if test is None else {"train": train, "test": test}
    write_corpus(raw, **counts)
    command = [f"{BIN}/fairseq-preprocess", "--source-lang", "src", "--target-lang", "tgt"]
    command += ["--joined-dictionary", "--destdir", data_bin, "--workers", "1"]
    for split in splits:
        command += [f"--{split}pref", os.path.join(raw, split)]
    subprocess.run(command, check=True, capture_output=True, env=dict(os.environ, OMP_NUM_THREADS="1"))
    return data_bin


def fake_data_bin(folder, src, tgt):
    """Empty files in fairseq-preprocess's layout (dictionaries, train and valid
    of ``src-tgt``): enough for a recipe's "is this binarized data" check when
    the test only builds a command; its path."""
    os.makedirs(folder)
    for lang in (src, tgt):
        open(os.path.join(folder, f"dict.{lang}.txt"), "w").close()
        for split in ("train", "valid"):
            for ext in ("bin", "idx"):
                open(os.path.join(folder, f"{split}.{src}-{tgt}.{lang}.{ext}"), "wb").close()
    return str(folder)


def sets(**values):
    """``--set key=value`` for each keyword, in order."""
    return [arg for key, value in values.items() for arg in ("--set", f"{key}={value}")]


# the IWSLT recipe shrunk to the toy corpus: its languages, a plain transformer, a dozen updates
TOY_RECIPE = dict(source_lang="src", target_lang="tgt", arch="transformer", max_update=12, warmup_updates=4)
