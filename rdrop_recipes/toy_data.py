"""A tiny synthetic translation corpus for the quickstart and the tests.

python -m rdrop_recipes.toy_data OUT_DIR [--train 2000 --seed 1]  # OUT_DIR/{train,valid,test}.{src,tgt}
"""

import argparse

from rdrop_recipes.toy.task import write_corpus


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir")
    parser.add_argument("--train", type=int, default=2000)
    parser.add_argument("--valid", type=int, default=100)
    parser.add_argument("--test", type=int, default=100)
    parser.add_argument("--vocab", type=int, default=24)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    counts = write_corpus(**vars(args))
    print(" ".join(f"{k}={v}" for k, v in counts.items()), "->", args.out_dir)


if __name__ == "__main__":
    main()
