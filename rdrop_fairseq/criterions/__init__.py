# fairseq auto-imports a user dir's tasks/ and models/, not criterions/.
from . import reg_label_smoothed_cross_entropy  # noqa: F401
