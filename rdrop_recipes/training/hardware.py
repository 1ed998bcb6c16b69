"""What the machine that trains offers (GPUs, bf16) and the precision flags that follow."""

from dataclasses import dataclass

from rdrop_recipes.process.errors import RecipeError

# precision "auto" (here and in the sbatch script): bf16 from this compute capability on, else fp16
BF16_FROM_COMPUTE_CAPABILITY = 8


@dataclass
class Hardware:
    device: str  # "cuda" or "cpu"
    gpus_per_node: int = 0
    bf16: bool = False


def add_device_options(parser, device_help=None):
    """--device (what ``detect_hardware`` reads) and its shorthand --cpu."""
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), help=device_help)
    parser.add_argument("--cpu", dest="device", action="store_const", const="cpu", help="--device cpu")


def detect_hardware(device="auto"):
    import torch  # here: --help and the plan's tests need no torch

    if device == "cpu" or (device == "auto" and not torch.cuda.is_available()):
        return Hardware("cpu")
    if not torch.cuda.is_available():
        raise RecipeError("--device cuda but torch sees no GPU; use --device cpu or auto")
    major, _ = torch.cuda.get_device_capability(0)
    bf16 = torch.cuda.is_bf16_supported() and major >= BF16_FROM_COMPUTE_CAPABILITY
    return Hardware("cuda", torch.cuda.device_count(), bf16)


def precision_flags(precision, hardware):
    """fairseq's flags for the recipe's ``precision`` on ``hardware``."""
    if hardware.device == "cpu":
        if precision in ("fp16", "bf16"):
            raise RecipeError(f"precision {precision} needs a GPU; use --set precision=fp32 on CPU")
        return ["--cpu"]
    if precision == "auto":
        precision = "bf16" if hardware.bf16 else "fp16"
    return [] if precision == "fp32" else [f"--{precision}"]
