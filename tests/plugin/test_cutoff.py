"""R-Drop + Cutoff (--reg-cutoff-type/--reg-cutoff-rate): the drawn masks keep
their rules, the hook cuts exactly the drawn entries of the source embedding
of the copies after the first and nothing else, gradients stop at the cut
entries, rate 0 is R-Drop bit for bit, the loss equals a hand computation with
the same mask, and every type trains through fairseq-train."""

import math
import os

import pytest
import torch
from conftest import PAIRS, TINY_MODEL, build, make_sample, write_dicts
from fairseq_commands import metric_series, run, train_cmd
from test_criterion import by_hand

from rdrop_fairseq.criterions.input_cutoff import InputCutoff, source_embedding
from rdrop_fairseq.criterions.rdrop_options import RDropOptions, validate
from rdrop_fairseq.criterions.reg_label_smoothed_cross_entropy import (
    RegLabelSmoothedCrossEntropyConfig,
    RegLabelSmoothedCrossEntropyCriterion,
)
from rdrop_fairseq.cutoff import DIMENSION, SPAN, TOKEN, draw_cutoff
from rdrop_fairseq.errors import RDropConfigError

PAD, BOS, EOS = 1, 0, 2
TYPES = (TOKEN, SPAN, DIMENSION)
TINY_BART = ["--arch", "bart_base"] + TINY_MODEL[2:]
RDROP = ["--task", "rdrop_translation", "--criterion", "reg_label_smoothed_cross_entropy"]


def stacked_batch(copies=2, seed=0, device="cpu"):
    """Left-padded sources as fairseq collates them (real tokens, then eos),
    some with a leading bos as BART's are, of lengths 1 .. 12, stacked (drawn
    on the CPU, so every device sees the same batch)."""
    gen = torch.Generator().manual_seed(seed)
    rows = []
    for n in range(1, 13):
        bos = [BOS] if n % 3 == 0 else []
        body = bos + torch.randint(4, 50, (n,), generator=gen).tolist() + [EOS]
        rows.append([PAD] * (14 - len(body)) + body)
    src = torch.tensor(rows)
    return torch.cat([src] * copies).to(device)


def real(src, copies):
    keep = src.ne(PAD) & src.ne(BOS) & src.ne(EOS)
    keep[: src.size(0) // copies] = False
    return keep


@pytest.mark.parametrize("kind", TYPES)
@pytest.mark.parametrize("rate", [0.05, 0.3, 0.9])
@pytest.mark.parametrize("copies", [2, 3])
def test_masks_keep_every_rule(kind, rate, copies, device):
    """On every device: the masks are drawn where the batch lives, by its generator."""
    src = stacked_batch(copies, device=device)
    eligible = real(src, copies)
    n = eligible.sum(1)
    for seed in range(30):
        gen = torch.Generator(device).manual_seed(seed)
        cut = draw_cutoff(src, PAD, rate, copies, kind, 8, (BOS, EOS), gen)
        assert cut.device == src.device
        assert cut.shape == ((*src.shape, 8) if kind == DIMENSION else (*src.shape, 1))
        anywhere = cut.any(-1)
        # copy 0, padding, bos and eos: never touched
        assert not anywhere[: src.size(0) // copies].any()
        assert not (anywhere & ~eligible).any()
        if kind == DIMENSION:
            # the same dimensions on every real token of a sentence, never all of them
            for row in range(src.size(0)):
                sub = cut[row][eligible[row]]
                if len(sub):
                    assert (sub == sub[0]).all() and not sub[0].all()
        else:
            kept = (eligible & ~anywhere).sum(1)
            assert ((kept >= 1) | (n == 0)).all(), "a sentence kept none of its tokens"
            assert not anywhere[n == 1].any(), "a one-token sentence was cut"
        if kind == SPAN:
            for row in range(src.size(0)):
                at = anywhere[row].nonzero().flatten()
                if len(at):
                    assert (at.diff() == 1).all(), "a span is contiguous"
                    low = math.floor(rate * n[row].item())
                    assert low <= len(at) <= min(low + 1, n[row].item() - 1)


@pytest.mark.parametrize("kind", TYPES)
def test_masks_cut_the_rate_on_average_and_are_reproducible(kind, device):
    src = torch.cat([torch.randint(4, 50, (64, 40)), torch.full((64, 1), EOS)], 1)
    src = torch.cat([src, src]).to(device)
    gen = torch.Generator(device).manual_seed(3)
    cut = draw_cutoff(src, PAD, 0.2, 2, kind, 64, (BOS, EOS), gen)
    share = cut[64:, :40].float().mean().item()
    assert abs(share - 0.2) < 0.02, share
    again = draw_cutoff(src, PAD, 0.2, 2, kind, 64, (BOS, EOS), torch.Generator(device).manual_seed(3))
    assert torch.equal(cut, again)


@pytest.fixture(scope="module")
def dicts(tmp_path_factory):
    return write_dicts(str(tmp_path_factory.mktemp("data")))


@pytest.fixture(scope="module")
def models(dicts):
    """(task, model) per architecture, built once: shared embeddings, dropout 0
    (nothing random but the cut), so a seed fixes a whole forward."""
    built = {}
    for name, arch in (("transformer", TINY_MODEL), ("bart", TINY_BART)):
        torch.manual_seed(7)
        _, task, model, _ = build(dicts, *RDROP, *arch, "--share-all-embeddings", "--dropout", "0")
        built[name] = (task, model.train())
    return built


def criterion(task, **options):
    cfg = RegLabelSmoothedCrossEntropyConfig(sentence_avg=False, label_smoothing=0.1, **options)
    return RegLabelSmoothedCrossEntropyCriterion(task, cfg)


@pytest.mark.parametrize("arch", ["transformer", "bart"])
@pytest.mark.parametrize("kind", TYPES)
def test_hook_cuts_exactly_the_drawn_entries_of_the_source_only(models, arch, kind):
    task, model = models[arch]
    sample = make_sample(task, PAIRS * 2)
    net_input = {k: torch.cat([v, v]) for k, v in sample["net_input"].items()}
    src, prev = net_input["src_tokens"], net_input["prev_output_tokens"]
    embedding = source_embedding(model)
    assert embedding is model.decoder.embed_tokens  # the shared case the identity test is for
    seen = []
    cutoff = InputCutoff.for_task(task, kind, 0.5, 2, PAD)
    with cutoff.applied(model, net_input):
        # registered after the cutoff hook, so it sees what the encoder gets
        spy = embedding.register_forward_hook(lambda m, i, o: seen.append((i[0], o.detach())))
        model(**net_input)
        spy.remove()
    assert not embedding._forward_hooks, "the hook is removed after the call"

    cut = cutoff.last_cut
    assert cut.any()
    (src_in, src_out), (prev_in, prev_out) = seen
    assert src_in is src and prev_in is prev
    plain = embedding(src).detach()
    assert torch.equal(src_out, plain.masked_fill(cut, 0.0))
    # zero exactly where drawn (no real token's embedding has a zero entry)
    real_rows = src.ne(task.source_dictionary.pad()).unsqueeze(-1).expand_as(plain)
    assert torch.equal((src_out == 0) & real_rows, cut.expand_as(plain) & real_rows)
    assert torch.equal(prev_out, embedding(prev).detach()), "the decoder input is never cut"


@pytest.mark.parametrize("kind", TYPES)
def test_gradient_reaches_the_uncut_embeddings_only(models, kind):
    task, model = models["transformer"]
    crit = criterion(task, reg_cutoff_type=kind, reg_cutoff_rate=0.4)
    sample = make_sample(task, PAIRS * 2)
    calls = []

    def keep_raw_output(module, inputs, output):  # registered first: sees the output before the cut
        output.retain_grad()
        calls.append((inputs[0], output))

    handle = model.encoder.embed_tokens.register_forward_hook(keep_raw_output)
    model.zero_grad()
    loss, _, _ = crit(model, sample)
    loss.backward()
    handle.remove()

    src, raw = calls[0]  # the encoder embeds first; calls[1] is the decoder's
    cut = crit.cutoff.last_cut.expand_as(raw)
    assert cut.any()
    assert torch.equal(raw.grad[cut], torch.zeros_like(raw.grad[cut]))
    live = ~cut & src.ne(task.source_dictionary.pad()).unsqueeze(-1)
    # with dropout 0 nothing else can zero a gradient
    assert (raw.grad[live] != 0).all(), "every uncut entry of every copy gets a gradient"


def test_rate_zero_is_rdrop_bit_for_bit(dicts):
    torch.manual_seed(7)
    _, task, model, _ = build(dicts, *RDROP, *TINY_MODEL, "--dropout", "0.3")
    model.train()
    sample = make_sample(task, PAIRS)
    results = []
    for options in ({}, {"reg_cutoff_type": TOKEN, "reg_cutoff_rate": 0.0}):
        model.zero_grad()
        torch.manual_seed(11)  # dropout 0.3 draws masks: one extra draw would change them
        loss, _, log = criterion(task, **options)(model, sample)
        loss.backward()
        results.append((loss.detach(), log["kl_loss"], [p.grad.clone() for p in model.parameters()]))
    (a, ka, ga), (b, kb, gb) = results
    assert torch.equal(a, b) and torch.equal(ka, kb)
    assert all(torch.equal(x, y) for x, y in zip(ga, gb))


@pytest.mark.parametrize(
    "kind,direction,copies",
    [(TOKEN, "bidirectional", 2), (SPAN, "unidirectional", 2), (DIMENSION, "bidirectional", 3)],
)
def test_loss_equals_hand_computation_with_the_same_mask(models, kind, direction, copies):
    task, model = models["transformer"]
    options = dict(reg_alpha=3.0, reg_kl_direction=direction, reg_passes=copies)
    crit = criterion(task, reg_cutoff_type=kind, reg_cutoff_rate=0.3, **options)
    sample = make_sample(task, PAIRS * 2)
    torch.manual_seed(5)
    loss, _, _ = crit(model, sample)

    # by hand: the same draw (same seed, nothing else random with dropout 0),
    # the masked embeddings handed to the encoder, the loss written out
    def stacked(key):
        return torch.cat([sample["net_input"][key]] * copies)

    src = stacked("src_tokens")
    d = task.source_dictionary
    torch.manual_seed(5)
    cut = draw_cutoff(src, d.pad(), 0.3, copies, kind, 16, (d.bos(), d.eos()))
    assert cut[len(PAIRS) * 2 :].any()

    def hand_loss(keep):
        embedded = model.encoder.embed_tokens(src) * keep.float()
        encoder_out = model.encoder(src, stacked("src_lengths"), token_embeddings=embedded)
        logits = model.decoder(stacked("prev_output_tokens"), encoder_out=encoder_out)[0]
        table = logits.view(copies, *sample["target"].shape, -1)
        return by_hand(table, sample["target"], task.target_dictionary.pad(), 3.0, direction)[0]

    assert math.isclose(loss.item(), hand_loss(~cut).item(), rel_tol=1e-5)
    assert abs(hand_loss(torch.ones_like(cut)).item() - loss.item()) > 1e-3, "the cut changed the loss"


class MaskedEmbedding(torch.nn.Module):
    """By hand, for the decoder input: the embedding of ``tokens`` times ``keep``."""

    def __init__(self, inner, tokens, keep):
        super().__init__()
        self.inner, self.tokens, self.keep = inner, tokens, keep

    def forward(self, tokens):
        assert tokens is self.tokens or torch.equal(tokens, self.tokens)
        return self.inner(tokens) * self.keep.float()


@pytest.mark.parametrize("arch", ["transformer", "bart"])
def test_decoder_cutoff_cuts_the_drawn_entries_of_both_inputs(models, arch):
    task, model = models[arch]
    sample = make_sample(task, PAIRS * 2)
    net_input = {k: torch.cat([v, v]) for k, v in sample["net_input"].items()}
    src, prev = net_input["src_tokens"], net_input["prev_output_tokens"]
    embedding = model.decoder.embed_tokens  # shared with the encoder here
    seen = []
    cutoff = InputCutoff.for_task(task, TOKEN, 0.5, 2, PAD, decoder_input=True)
    with cutoff.applied(model, net_input):
        spy = embedding.register_forward_hook(lambda m, i, o: seen.append((i[0], o.detach())))
        model(**net_input)
        spy.remove()
    assert not embedding._forward_hooks

    src_cut, prev_cut = cutoff.last_cuts["src_tokens"], cutoff.last_cuts["prev_output_tokens"]
    (src_in, src_out), (prev_in, prev_out) = seen
    assert src_in is src and prev_in is prev
    assert torch.equal(src_out, embedding(src).detach().masked_fill(src_cut, 0.0))
    assert torch.equal(prev_out, embedding(prev).detach().masked_fill(prev_cut, 0.0))
    batch = prev.size(0) // 2
    assert prev_cut[batch:].any() and not prev_cut[:batch].any(), "the first copy stays clean"
    d = task.target_dictionary
    boundary = prev.eq(d.pad()) | prev.eq(d.eos()) | prev.eq(d.bos())
    assert boundary[:, 0].all() and not prev_cut.squeeze(-1)[boundary].any(), "eos-as-bos and padding stay"


def test_decoder_cutoff_hooks_the_decoders_own_embedding_when_not_shared(dicts):
    torch.manual_seed(7)
    _, task, model, _ = build(dicts, *RDROP, *TINY_MODEL, "--dropout", "0")
    assert model.encoder.embed_tokens is not model.decoder.embed_tokens
    sample = make_sample(task, PAIRS * 2)
    net_input = {k: torch.cat([v, v]) for k, v in sample["net_input"].items()}
    cutoff = InputCutoff.for_task(task, SPAN, 0.5, 2, PAD, decoder_input=True)
    seen = []
    with cutoff.applied(model, net_input):
        spy = model.decoder.embed_tokens.register_forward_hook(lambda m, i, o: seen.append(o.detach()))
        model.train()(**net_input)
        spy.remove()
    (prev_out,) = seen
    prev = net_input["prev_output_tokens"]
    prev_cut = cutoff.last_cuts["prev_output_tokens"]
    assert prev_cut.any()
    assert torch.equal(prev_out, model.decoder.embed_tokens(prev).detach().masked_fill(prev_cut, 0.0))
    assert not model.encoder.embed_tokens._forward_hooks and not model.decoder.embed_tokens._forward_hooks


def test_simcut_loss_equals_hand_computation(models):
    """SimCut exactly: both inputs of the second copy cut, the NLL on the clean
    copy only, alpha * KL(P_clean || P_cut)."""
    task, model = models["transformer"]
    crit = criterion(
        task,
        reg_alpha=3.0,
        reg_kl_direction="unidirectional",
        reg_cutoff_type=TOKEN,
        reg_cutoff_rate=0.3,
        reg_cutoff_decoder=True,
        reg_task_loss="first-copy",
    )
    sample = make_sample(task, PAIRS * 2)
    torch.manual_seed(5)
    loss, _, log = crit(model, sample)
    assert log["nll_ntokens"] == sample["ntokens"], "the NLL is per token of the clean copy"

    def stacked(key):
        return torch.cat([sample["net_input"][key]] * 2)

    src, prev = stacked("src_tokens"), stacked("prev_output_tokens")
    s, t = task.source_dictionary, task.target_dictionary
    torch.manual_seed(5)  # the encoder embeds first, so its mask is drawn first
    src_cut = draw_cutoff(src, s.pad(), 0.3, 2, TOKEN, 16, (s.bos(), s.eos()))
    prev_cut = draw_cutoff(prev, t.pad(), 0.3, 2, TOKEN, 16, (t.bos(), t.eos()))
    assert src_cut.any() and prev_cut.any()

    def hand_loss(src_keep, prev_keep, task_copies):
        embedded = model.encoder.embed_tokens(src) * src_keep.float()
        encoder_out = model.encoder(src, stacked("src_lengths"), token_embeddings=embedded)
        shared = model.decoder.embed_tokens
        model.decoder.embed_tokens = MaskedEmbedding(shared, prev, prev_keep)
        try:
            logits = model.decoder(prev, encoder_out=encoder_out)[0]
        finally:
            model.decoder.embed_tokens = shared
        table = logits.view(2, *sample["target"].shape, -1)
        pad = t.pad()
        return by_hand(table, sample["target"], pad, 3.0, "unidirectional", task_copies)[0]

    assert math.isclose(loss.item(), hand_loss(~src_cut, ~prev_cut, 1).item(), rel_tol=1e-5)
    kept = torch.ones_like(prev_cut)
    assert abs(hand_loss(~src_cut, kept, 1).item() - loss.item()) > 1e-3, "the decoder cut changed the loss"
    assert abs(hand_loss(~src_cut, ~prev_cut, 2).item() - loss.item()) > 1e-3, "the NLL is on one copy"


@pytest.mark.parametrize(
    "options,message",
    [
        ((TOKEN, None, None), "needs --reg-cutoff-rate"),
        (("none", 0.1, None), "without --reg-cutoff-type"),
        ((SPAN, 1.0, None), "must be in [0, 1)"),
        ((SPAN, -0.1, None), "must be in [0, 1)"),
        ((SPAN, float("nan"), None), "must be in [0, 1)"),
        ((DIMENSION, 0.1, "0.1,0.3"), "drop --reg-dropouts"),
        (("none", None, None, True), "--reg-cutoff-decoder cuts with --reg-cutoff-type"),
        ((TOKEN, 0.0, None, True), "--reg-cutoff-decoder cuts with --reg-cutoff-type"),
    ],
)
def test_bad_options_name_the_fix(options, message):
    kind, rate, dropouts, *decoder = options
    with pytest.raises(RDropConfigError, match=message.replace("[", r"\[").replace(")", r"\)")):
        validate(
            RDropOptions(
                reg_alpha=5.0,
                reg_passes=2,
                reg_every=1,
                reg_kl_direction="bidirectional",
                reg_dropouts=dropouts,
                reg_cutoff_type=kind,
                reg_cutoff_rate=rate,
                reg_cutoff_decoder=any(decoder),
            )
        )


def test_bad_options_reach_fairseq_train_as_one_error(dicts):
    with pytest.raises(RDropConfigError, match="needs --reg-cutoff-rate"):
        build(dicts, *RDROP, *TINY_MODEL, "--reg-cutoff-type", "span")


def test_architecture_without_source_embedding_is_a_clear_error():
    class DecoderOnly(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.decoder = torch.nn.Embedding(5, 4)

    cutoff = InputCutoff(TOKEN, 0.1, 2, PAD)
    with pytest.raises(RDropConfigError, match="DecoderOnly does not have.*--reg-cutoff-type none"):
        with cutoff.applied(DecoderOnly(), {"src_tokens": torch.ones(2, 3, dtype=torch.long)}):
            pass


@pytest.mark.parametrize(
    "config_name,variant,want",
    [
        (
            "train-iwslt14.toml",
            "rdrop-cutoff",
            {"--reg-alpha": "5.0", "--reg-cutoff-type": "token", "--reg-cutoff-rate": "0.05"},
        ),
        (
            "train-multi30k.toml",
            "rdrop-cutoff",
            {"--reg-alpha": "5.0", "--reg-cutoff-type": "token", "--reg-cutoff-rate": "0.05"},
        ),
        *[
            (
                config_name,
                "simcut",
                {
                    "--reg-alpha": "3.0",
                    "--reg-kl-direction": "unidirectional",
                    "--reg-cutoff-type": "token",
                    "--reg-cutoff-rate": "0.05",
                    "--reg-task-loss": "first-copy",
                    "--reg-cutoff-decoder": None,  # a switch: no value
                },
            )
            for config_name in ("train-iwslt14.toml", "train-multi30k.toml")
        ],
    ],
)
def test_recipe_variants_reach_the_criterion(dicts, tmp_path, config_name, variant, want):
    from rdrop_recipes import train
    from rdrop_recipes.training.hardware import Hardware
    from rdrop_recipes.training.plan import build_plan

    data = tmp_path / "bin"  # passes the recipe's "is this fairseq-preprocess output" check
    data.mkdir()
    (data / "dict.de.txt").write_text("")
    for name in ("train", "valid"):
        for lang in ("de", "en"):
            for ext in ("bin", "idx"):
                (data / f"{name}.de-en.{lang}.{ext}").write_bytes(b"")
    config = os.path.join(
        os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "configs", config_name
    )
    argv = ["--config", config, "--data", str(data), "--variant", variant]
    command = build_plan(train.parse_args(argv), Hardware("cpu")).command
    assert {f: None if v is None else command[command.index(f) + 1] for f, v in want.items()} == want
    assert "--reg-cutoff-decoder" not in command or "--reg-cutoff-decoder" in want
    flags = [x for pair in want.items() for x in pair if x is not None]
    _, _, _, crit = build(dicts, *RDROP, *TINY_MODEL, *flags)
    assert (crit.cutoff.kind, crit.cutoff.rate, crit.alpha) == ("token", 0.05, float(want["--reg-alpha"]))
    assert crit.direction == want.get("--reg-kl-direction", "bidirectional")
    assert crit.task_copies == (1 if "--reg-task-loss" in want else 2)
    sides = [side.key for side in crit.cutoff.sides]
    assert sides == ["src_tokens"] + (["prev_output_tokens"] if "--reg-cutoff-decoder" in want else [])


SMALLER = (
    "--encoder-layers 1 --decoder-layers 1 --encoder-embed-dim 32 --decoder-embed-dim 32 "
    "--encoder-ffn-embed-dim 64 --decoder-ffn-embed-dim 64 --max-tokens 1000"
).split()


@pytest.mark.slow
def test_every_type_trains_through_fairseq_train(data_bin, tmp_path):  # noqa: F811
    firsts = []
    settings = {kind: ["--reg-cutoff-type", kind, "--reg-cutoff-rate", "0.1"] for kind in TYPES}
    settings["simcut"] = settings[TOKEN] + [
        "--reg-cutoff-decoder", "--reg-task-loss", "first-copy", "--reg-kl-direction", "unidirectional",
    ]  # fmt: skip
    for kind, flags in settings.items():
        cmd = train_cmd(
            data_bin,
            str(tmp_path / kind),
            *SMALLER,
            *flags,
            "--log-interval",
            "1",
            "--no-save",
            "--disable-validation",
            updates=24,
        )
        log = run(cmd, cwd=tmp_path).stdout
        losses = metric_series(log, "train_inner", "loss")
        kls = metric_series(log, "train_inner", "kl_loss")
        assert len(losses) == len(kls) == 24 and all(k > 0 for k in kls)
        assert sum(losses[-4:]) < 0.8 * sum(losses[:4]), f"{kind}: it learns"
        firsts.append((losses[0], kls[0]))
    # same seed, same batches: had the options not reached the criterion, the
    # runs would log the same first update
    assert len(set(firsts)) == len(settings)
