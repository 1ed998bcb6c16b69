"""Average the model parameters of several fairseq checkpoints into one.

    python -m rdrop_recipes.average_checkpoints --inputs a.pt b.pt --output avg.pt
    python -m rdrop_recipes.average_checkpoints --dir CKPT_DIR --last 5 --output avg.pt

``--last N``: the N newest ``checkpoint_<epoch>_<updates>.pt`` by update, else ``checkpoint<epoch>.pt``.
"""

import argparse
import sys

from rdrop_recipes.evaluation.checkpoint_averaging import average_checkpoints, check_output, write_checkpoint
from rdrop_recipes.fairseq_io.checkpoint_files import expand, last_checkpoints, oldest_to_newest
from rdrop_recipes.process.exit import exits_cleanly


@exits_cleanly("average_checkpoints")
def main(argv=None):
    parser = argparse.ArgumentParser(prog="average_checkpoints", description=__doc__.splitlines()[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--inputs", nargs="+", help="checkpoint files or globs")
    source.add_argument("--dir", help="folder of numbered checkpoints (with --last)")
    parser.add_argument("--last", type=int, default=5, help="how many of the newest in --dir (default 5)")
    parser.add_argument("--by", choices=("auto", "updates", "epochs"), default="auto")
    parser.add_argument("--output", required=True)
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --output file")
    args = parser.parse_args(argv)
    paths = expand(args.inputs) if args.inputs else last_checkpoints(args.dir, args.last, args.by)
    paths = oldest_to_newest(paths)
    check_output(args.output, paths, args.overwrite)
    print(f"average_checkpoints: averaging {len(paths)} checkpoint(s): {', '.join(paths)}", flush=True)
    write_checkpoint(average_checkpoints(paths), args.output)
    print(f"average_checkpoints: wrote {args.output}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
