"""What R-Drop needs of every task: the criterion learns which update it is on.

fairseq's Trainer hands the update number to ``task.train_step`` and the
model, never to the criterion; ``--reg-every k`` needs it (counting the
criterion's own calls would break under ``--update-freq`` and on resume).
Each R-Drop task mixes this in before its fairseq base task.
"""


class PassesUpdateNumber:
    def train_step(self, sample, model, criterion, optimizer, update_num, ignore_grad=False):
        set_update_num = getattr(criterion, "set_update_num", None)
        if set_update_num is not None:
            set_update_num(update_num)
        return super().train_step(sample, model, criterion, optimizer, update_num, ignore_grad)
