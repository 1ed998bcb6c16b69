"""Which runs a comparison makes, and the command lines of each run's training and
evaluation (``python -m rdrop_recipes.train`` / ``evaluate``, as a user runs them)."""

import difflib
import os
import shlex
import sys
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence

from rdrop_recipes.config import declarations, recipe_config
from rdrop_recipes.fairseq_io.preprocess import prepare_hint
from rdrop_recipes.folders.markers import TRAINED
from rdrop_recipes.process.errors import RecipeError

DEFAULT_BASELINE = "baseline"


@dataclass(frozen=True)
class Settings:
    config: str  # train recipe TOML
    eval_config: str  # evaluate recipe TOML
    data: Optional[str]  # binarized data folder, absolute; None: the train config's
    out: str  # comparison folder, absolute: runs/ and results/ go there
    device: str
    assignments: Sequence[str] = ()  # --set of every run
    eval_set: Sequence[str] = ()  # --set of every evaluation
    baseline: str = DEFAULT_BASELINE
    name: str = "comparison"
    bootstrap_samples: int = 1000
    ar_trials: int = 10000
    command: str = ""  # the command line, as table.md shows it


@dataclass
class Run:
    variant: str
    seed: int
    folder: str
    train_flags: List[str]  # the variant's own flags (--variant, --reg-*, --set)

    def __post_init__(self):
        self.name = f"{self.variant}-seed{self.seed}"
        self.eval_dir = os.path.join(self.folder, "eval")
        self.trained_marker = os.path.join(self.folder, TRAINED)  # written once its training exited cleanly
        # the consoles its training and evaluation append to, one attempt after another
        self.train_console = os.path.join(self.folder, "train.out")
        self.eval_console = os.path.join(self.folder, "evaluate.out")


def split_list(text: str, what: str) -> List[str]:
    items = [item.strip() for item in text.split(",") if item.strip()]
    if not items:
        raise RecipeError(f"--{what} is empty; give a comma-separated list")
    if len(set(items)) != len(items):
        raise RecipeError(f"--{what} {text!r} names an entry twice")
    return items


def close_to(name: str, choices: Sequence[str]) -> str:
    """`` (did you mean X?)`` where ``name`` looks like a typo of one of ``choices``."""
    close = difflib.get_close_matches(name, list(choices), n=1)
    return f" (did you mean {close[0]}?)" if close else ""


def defined_variants(defines: List[str]) -> Dict[str, List[str]]:
    """``--define NAME="train flags"`` -> {NAME: flags}."""
    defined = {}
    for item in defines:
        name, sep, flags = item.partition("=")
        name = name.strip()
        if not sep or not name or "," in name or "/" in name:
            raise RecipeError(f'--define {item!r}: write NAME="train flags", e.g. alpha1="--reg-alpha 1"')
        if name in defined:
            raise RecipeError(f"--define {name} is given twice; keep one")
        try:
            defined[name] = shlex.split(flags)
        except ValueError as err:  # shlex: "No closing quotation", "No escaped character"
            raise RecipeError(
                f"--define {item!r}: {str(err).lower()} in its flags; balance the quotes"
            ) from None
    return defined


def variant_flags(names: List[str], defines: List[str], config: dict) -> Dict[str, List[str]]:
    """variant name -> its train flags."""
    defined = defined_variants(defines)
    unused = [name for name in defined if name not in names]
    if unused:
        raise RecipeError(
            f"--define {unused[0]} is not in --variants {','.join(names)}; add it "
            f"(--variants {','.join(names + unused)}) or leave out the --define"
        )
    known = config.get("variants", {})
    given = {**{name: ["--variant", name] for name in known}, **defined}
    for name in names:
        if name not in given:
            raise RecipeError(
                f"variant {name!r}{close_to(name, given)} is neither in "
                f'{", ".join(known)} of the train config nor given by --define {name}="FLAGS"'
            )
    for name in defined:  # a config's variant is its --variant flag alone
        for flag in defined[name]:
            if flag in ("--save-dir", "--data", "--config", "--device") or flag.startswith("--save-dir="):
                raise RecipeError(f"variant {name}: {flag} is set by compare itself; leave it out")
    return {name: given[name] for name in names}


def check_baseline(baseline: Optional[str], variants: List[str]) -> str:
    """The variant the others are tested against; by default ``baseline``, which a comparison
    of one variant may lack (it tests nothing)."""
    if baseline is None and (DEFAULT_BASELINE in variants or len(variants) == 1):
        return DEFAULT_BASELINE
    chosen = DEFAULT_BASELINE if baseline is None else baseline
    if chosen not in variants:
        raise RecipeError(
            f"--baseline {chosen}{close_to(chosen, variants)} is not one of --variants {','.join(variants)}: "
            "every p-value tests a variant against it; name one of them with --baseline"
        )
    return chosen


def plan(settings: Settings, variants_text: str, seeds_text: str, defines: List[str]) -> tuple:
    """(variant names, runs), after checking both configs and the data folder."""
    config = recipe_config.load(settings.config)
    recipe_config.load(settings.eval_config)
    data = settings.data or config.get("recipe", {}).get("data", "")
    if not os.path.isdir(data):
        raise RecipeError(f"data folder {data!r} not found; {prepare_hint(config.get('recipe', {}))}")
    variants = split_list(variants_text, "variants")
    seeds = declarations.parse_seeds(seeds_text)
    flags = variant_flags(variants, defines, config)
    # seed by seed, so an interrupted comparison already holds complete pairs to compare
    runs = [
        Run(v, s, os.path.join(settings.out, "runs", f"{v}-seed{s}"), flags[v])
        for s in seeds
        for v in variants
    ]
    return variants, runs


def _recipe(module: str, config: str, flags: List[str], settings: Settings, sets: Sequence[str]) -> List[str]:
    """``python -m rdrop_recipes.<module> --config config flags``, then the device, data and ``sets``."""
    command = [sys.executable, "-m", f"rdrop_recipes.{module}", "--config", config, *flags]
    command += ["--device", settings.device] + (["--data", settings.data] if settings.data else [])
    return command + [part for assignment in sets for part in ("--set", assignment)]


def train_command(run: Run, settings: Settings) -> List[str]:
    command = _recipe("train", settings.config, ["--save-dir", run.folder], settings, settings.assignments)
    # the seed after the variant's flags, so that no --set of a variant can silently share
    # seeds, and before its fairseq flags after '--', which train hands to fairseq-train
    flags = list(run.train_flags)
    cut = flags.index("--") if "--" in flags else len(flags)
    return command + flags[:cut] + ["--set", f"seed={run.seed}"] + flags[cut:]


def eval_command(run: Run, settings: Settings) -> List[str]:
    checkpoint = os.path.join(run.folder, "checkpoint_best.pt")
    flags = ["--checkpoint", checkpoint, "--results-dir", run.eval_dir, "--name", run.name]
    return _recipe("evaluate", settings.eval_config, flags, settings, settings.eval_set)
