"""Where the installed plugin lives, for ``--user-dir $(rdrop-fairseq-user-dir)``.

Kept free of fairseq imports so that it answers instantly.
"""

import os


def main() -> None:
    print(os.path.dirname(os.path.abspath(__file__)))


if __name__ == "__main__":
    main()
