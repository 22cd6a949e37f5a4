#!/usr/bin/env python3
"""PyTorch reference trainer of `embpress bench train --vs pytorch` (a benchmark, never a test).

Reads a work directory written by bench/src/train-bench-pytorch.ts:
  meta.json                  model config, training options, part schedule, array layout, and
                             dataDir: {train,validation,test}.sparse.u32 / .dense.f32 / .labels.f32,
                             the prepared splits in file order (global ids of the vocabulary)
  init.table.f32             the initial embedding table (rows x dim) embpress's trainer starts from
  init.weights.f32           the initial dense weights, laid out as meta["weights"] says
meta.json also carries the training levers: amsgrad (the dense Adam's; SparseAdam, like our
rows' Adam, has none), dropout (the MLPs' hidden layers, training steps only; torch's own masks)
and lrFactors, the learning-rate factor of every planned step (services/trainer lr-schedule.ts).
and trains the same architecture (docs/methods/full.md; the models of docs/adr and
libs/models/src/networks.ts), the same optimizer (lazy sparse rows, dense weights), the same
batch order and the same part / validation / early-stop loop as services/trainer. It writes
  result.json                what it measured (samples/s of the training steps, parts, history)
  test.pred.f32              click probabilities of the best part on the test rows, in file order
The embpress side scores both models' test predictions with the same AUC / logloss code.

Weights are kept in embpress's layout (Linear weights are [in, out]: y = x W + b) so they can
be loaded as they are. Exit code 3 with one line on stderr when torch cannot be imported.
"""

import json
import math
import os
import sys
import time

try:
    import numpy as np
    import torch
except ImportError as err:  # pragma: no cover - the caller reports this
    sys.stderr.write(f"torch_reference.py: cannot import numpy/torch ({err}); pip install torch\n")
    sys.exit(3)


def load(work, name, dtype, shape):
    arr = np.fromfile(os.path.join(work, name), dtype=dtype)
    return arr.reshape(shape)


def roc_auc(p, y):
    """Rank AUC with tied scores averaged (libs/models/src/metrics.ts); 0 when a score is NaN/Inf."""
    p = np.asarray(p, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if not np.all(np.isfinite(p)):
        return 0.0
    pos = float(y.sum())
    neg = float(len(y) - pos)
    if pos == 0 or neg == 0:
        return float("nan")
    _, inv, counts = np.unique(p, return_inverse=True, return_counts=True)
    ends = np.cumsum(counts)
    avg_rank = (ends - counts + 1 + ends) / 2.0
    ranks = avg_rank[inv]
    return float((ranks[y == 1].sum() - pos * (pos + 1) / 2.0) / (pos * neg))


def json_number(x):
    """x, or None (JSON null) when it is NaN/Inf: strict JSON has no NaN (the AUC of one class)."""
    return x if math.isfinite(x) else None


class Net(torch.nn.Module):
    """The heads of libs/models/src/networks.ts over gathered rows [B, F, D] and dense [B, nd]."""

    def __init__(self, config, weights, dropout=0.0):
        super().__init__()
        self.config = config
        self.dropout = dropout
        self.w = torch.nn.ParameterDict(
            {name.replace(".", "_"): torch.nn.Parameter(torch.from_numpy(v.copy())) for name, v in weights.items()}
        )
        self.names = list(weights.keys())
        kind = config["kind"]
        if kind == "dlrm":
            n = config["numFields"] + (1 if config["numDense"] > 0 else 0)
            li, lj = torch.tril_indices(n, n, offset=-1)  # (1,0), (2,0), (2,1), ... row-major
            self.register_buffer("tri", li * n + lj)

    def p(self, name):
        return self.w[name.replace(".", "_")]

    def linear(self, name, x, bias=True):
        y = x @ self.p(f"{name}.weight")
        return y + self.p(f"{name}.bias") if bias else y

    def mlp(self, name, x, layers, relu_last):
        for i in range(layers):
            x = self.linear(f"{name}.{i}", x)
            if i < layers - 1 or relu_last:
                x = torch.relu(x)
            if i < layers - 1 and self.dropout > 0 and self.training:
                x = torch.nn.functional.dropout(x, p=self.dropout, training=True)
        return x

    def forward(self, dense, rows):
        c = self.config
        kind = c["kind"]
        B, F, D = rows.shape
        nd = c["numDense"]
        if kind == "dlrm":
            if nd > 0:
                b = self.mlp("bottom", dense, len(c["bottom"]) + 1, True)
                z = torch.cat([b.unsqueeze(1), rows], 1)
            else:
                z = rows
            n = z.shape[1]
            gram = torch.bmm(z, z.transpose(1, 2)).reshape(B, n * n)
            tri = gram[:, self.tri]
            x = torch.cat([b, tri], 1) if nd > 0 else tri
            return self.mlp("top", x, len(c["top"]) + 1, False).reshape(B)
        flat = rows.reshape(B, F * D)
        x0 = torch.cat([flat, dense], 1) if nd > 0 else flat
        if kind == "wdl":
            deep = self.mlp("deep", x0, len(c["deep"]) + 1, False)
            return (deep + self.linear("wide", x0, bias=False)).reshape(B)
        if kind == "dcn":
            x = x0
            for l in range(c["crossLayers"]):
                x = x0 * (x @ self.p(f"cross.{l}.weight")) + self.p(f"cross.{l}.bias") + x
            deep = self.mlp("deep", x0, len(c["deep"]), False)
            return self.linear("out", torch.cat([x, deep], 1)).reshape(B)
        if kind in ("deepfm", "fm"):
            first = rows[:, :, 0].sum(1)
            latent = rows[:, :, 1:]
            s = latent.sum(1)
            second = 0.5 * (s * s - (latent * latent).sum(1)).sum(1)
            logit = first + second
            if nd > 0:
                logit = logit + self.linear("linear", dense, bias=False).reshape(B)
            if kind == "deepfm":
                logit = logit + self.mlp("deep", latent.reshape(B, F * (D - 1)), len(c["deep"]) + 1, False).reshape(B)
            else:
                logit = logit + self.p("bias")
            return logit
        raise ValueError(f"unknown model kind {kind}")


def make_optimizers(kind, lr, emb, dense_params, amsgrad=False):
    """Lazy sparse rows (sparse gradients: only the rows of a batch change) and dense weights."""
    if kind == "adam":
        return [
            torch.optim.SparseAdam([emb.weight], lr=lr, betas=(0.9, 0.999), eps=1e-8),
            torch.optim.Adam(dense_params, lr=lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, amsgrad=amsgrad),
        ]
    if kind == "adagrad":
        return [
            torch.optim.Adagrad([emb.weight], lr=lr, initial_accumulator_value=0.0, eps=1e-7),
            torch.optim.Adagrad(dense_params, lr=lr, initial_accumulator_value=0.0, eps=1e-7),
        ]
    if kind == "sgd":
        return [torch.optim.SGD([emb.weight], lr=lr), torch.optim.SGD(dense_params, lr=lr)]
    raise ValueError(f"unknown optimizer {kind}")


def main():
    work = sys.argv[1]
    with open(os.path.join(work, "meta.json")) as f:
        meta = json.load(f)
    torch.manual_seed(meta["seed"])
    torch.set_num_threads(meta["threads"])
    config = meta["config"]
    F, D, nd = config["numFields"], config["dim"], config["numDense"]
    data = meta["dataDir"]
    splits = {}
    for name, rows in meta["splitRows"].items():
        splits[name] = (
            torch.from_numpy(load(data, f"{name}.sparse.u32", np.uint32, (rows, F)).astype(np.int64)),
            torch.from_numpy(load(data, f"{name}.dense.f32", np.float32, (rows, nd))),
            torch.from_numpy(load(data, f"{name}.labels.f32", np.float32, (rows,))),
        )
    table = load(work, "init.table.f32", np.float32, (meta["tableRows"], D))
    blob = np.fromfile(os.path.join(work, "init.weights.f32"), dtype=np.float32)
    weights = {}
    for w in meta["weights"]:
        size = int(np.prod(w["shape"]))
        weights[w["name"]] = blob[w["offset"] : w["offset"] + size].reshape(w["shape"])
    emb = torch.nn.Embedding(meta["tableRows"], D, sparse=True)
    with torch.no_grad():
        emb.weight.copy_(torch.from_numpy(table))
    net = Net(config, weights, meta.get("dropout", 0.0))
    opts = make_optimizers(meta["optimizer"], meta["lr"], emb, list(net.parameters()), meta.get("amsgrad", False))
    lr_factors = meta.get("lrFactors")
    global_step = 0

    def predict(split):
        ids, dense, _ = splits[split]
        out = []
        net.eval()
        with torch.no_grad():
            for s in range(0, ids.shape[0], meta["batchSize"]):
                rows = emb(ids[s : s + meta["batchSize"]])
                out.append(torch.sigmoid(net(dense[s : s + meta["batchSize"]], rows)))
        return torch.cat(out).numpy() if out else np.zeros(0, dtype=np.float32)

    B = meta["batchSize"]
    schedule = meta["schedule"]
    parts = len(schedule)
    ids, dense, labels = splits["train"]
    best = None
    since_best = 0
    step_seconds = 0.0
    samples = 0
    parts_run = 0
    history = []
    loop_start = time.perf_counter()
    for p in range(meta["totalParts"]):
        k = p % parts
        start = sum(schedule[:k])
        loss_sum = 0.0
        for b in range(start, start + schedule[k]):
            lo, hi = b * B, (b + 1) * B
            net.train()
            if lr_factors:
                f = lr_factors[min(global_step, len(lr_factors) - 1)]
                for o in opts:
                    for group in o.param_groups:
                        group["lr"] = meta["lr"] * f
            global_step += 1
            t0 = time.perf_counter()
            rows = emb(ids[lo:hi])
            logits = net(dense[lo:hi], rows)
            loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, labels[lo:hi])
            for o in opts:
                o.zero_grad(set_to_none=True)
            loss.backward()
            for o in opts:
                o.step()
            step_seconds += time.perf_counter() - t0
            loss_sum += float(loss.detach())
            samples += hi - lo
        parts_run += 1
        val = roc_auc(predict("validation"), splits["validation"][2].numpy())
        improved = best is None or val >= best["auc"]  # ties count as better, a NaN never does
        if improved:
            best = {
                "part": p + 1,
                "auc": val,
                "table": emb.weight.detach().clone(),
                "dense": {n: t.detach().clone() for n, t in net.state_dict().items()},
            }
            since_best = 0
        else:
            since_best += 1
        history.append({"part": p + 1, "loss": json_number(loss_sum / max(1, schedule[k])), "valAuc": json_number(val)})
        sys.stderr.write(f"  torch part {p + 1}/{meta['totalParts']}: loss {loss_sum / max(1, schedule[k]):.4f}, val AUC {val:.4f}\n")
        if since_best >= meta["earlyStopParts"] and p + 1 < meta["totalParts"]:
            break
    train_seconds = time.perf_counter() - loop_start
    with torch.no_grad():
        emb.weight.copy_(best["table"])
    net.load_state_dict(best["dense"])
    predict("test").astype(np.float32).tofile(os.path.join(work, "test.pred.f32"))
    with open(os.path.join(work, "result.json"), "w") as f:
        json.dump(
            {
                "torch": torch.__version__,
                "threads": torch.get_num_threads(),
                "partsRun": parts_run,
                "bestPart": best["part"],
                "valAuc": json_number(best["auc"]),
                "samplesTrained": samples,
                "stepSeconds": step_seconds,
                "trainSeconds": train_seconds,
                "samplesPerSec": samples / step_seconds if step_seconds > 0 else 0,
                "history": history,
            },
            f,
            allow_nan=False,  # fail here, not in the JSON.parse of the other side
        )


if __name__ == "__main__":
    main()
