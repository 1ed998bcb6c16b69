"""Where the installed plugin lives, for ``--user-dir $(rdrop-fairseq-user-dir)``.

Only the path goes to stdout; importing the package also imports fairseq,
whose log lines go to stderr and so stay out of the ``$(...)``.
"""

from . import USER_DIR


def main() -> None:
    print(USER_DIR)


if __name__ == "__main__":
    main()
