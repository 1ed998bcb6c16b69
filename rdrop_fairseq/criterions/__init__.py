# fairseq auto-imports a user dir's tasks/ and models/, not criterions/.
from . import reg_label_smoothed_cross_entropy, reg_sentence_prediction  # noqa: F401
