"""rdrop_fairseq: R-Drop as a fairseq plugin.

Install torch for your platform first, then fairseq-fixed without build
isolation (see README / scripts/install.sh), then this package. Nothing here
pins torch: pip keeps the one you have.

`pip install .` installs the plugin (``rdrop_fairseq``) with what it needs at
training time, torch and fairseq; `pip install ".[recipes]"` adds what the
recipes (``rdrop_recipes``, behind scripts/) need to prepare data, score and plot.
"""

from setuptools import find_packages, setup

setup(
    name="rdrop_fairseq",
    version="0.1.0",
    description="R-Drop (regularized dropout) for fairseq: tasks and criteria; the recipes with the [recipes] extra",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.9",
    packages=find_packages(include=["rdrop_fairseq", "rdrop_fairseq.*", "rdrop_recipes", "rdrop_recipes.*"]),
    # the plugin: what `fairseq-train --user-dir rdrop_fairseq` needs at training time
    install_requires=[
        # plain fairseq 0.12.2 does not import on Python >= 3.11
        'fairseq-fixed==0.12.3.1; python_version >= "3.11"',
        'fairseq>=0.12.2; python_version < "3.11"',
        "torch>=1.13",
        "numpy",
    ],
    extras_require={
        # the recipes behind scripts/ (prepare, train, evaluate, fine-tune, compare, plot):
        # `pip install ".[recipes]"`; scripts/install.sh installs them
        "recipes": [
            "sacrebleu>=2.0",
            "sacremoses>=0.0.53",
            "subword-nmt>=0.3.8",
            "sentencepiece",
            "matplotlib",
            'tomli; python_version < "3.11"',
            # fairseq --tensorboard-logdir writes through torch.utils.tensorboard, which needs
            # tensorboard (also the viewer); importing fairseq's tasks imports tensorboardX
            # (tasks/text_to_speech.py) and logs "Please install tensorboardX" on every command
            "tensorboard",
            "tensorboardX",
            # ROUGE of the CNN/DM summaries (rdrop_recipes/evaluation)
            "rouge-score",
        ],
        "test": ["pytest>=7", "pytest-timeout", "ruff>=0.6"],
        # fairseq-train --wandb-project NAME logs to Weights & Biases
        "wandb": ["wandb"],
    },
    entry_points={"console_scripts": ["rdrop-fairseq-user-dir = rdrop_fairseq.user_dir:main"]},
)
