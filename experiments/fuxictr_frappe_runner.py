"""Train AFM, FM or IPNN on Frappe with FuxiCTR's layers and training loop; run by ``fuxictr_frappe.py``.

This file runs inside the FuxiCTR virtual environment (``.cache/fuxictr-venv``), never in
recnotes' own: it imports numpy, torch and ``fuxictr`` only. It reads the arrays that
``fuxictr_frappe.py`` exported (one seed's train split and the published validation and test
files, already encoded by recnotes), and prints one line, ``FUXICTR_ROW <json>``, with the test
metrics, the per-epoch curve and the epochs where FuxiCTR cut the learning rate.

What comes from FuxiCTR (``fuxictr`` on PyPI, the library behind the BARS benchmark):

* ``BaseModel``: the training loop (Adam, the gradient norm clipped at 10, the learning rate
  divided by 10 after any epoch whose validation AUC does not improve, early stopping, the best
  epoch restored), the embedding penalty ``lambda / 2 * ||E||^2`` over whole tables, and the
  initialisation (Xavier-normal linear layers with zero biases);
* ``FeatureEmbedding`` (tables drawn from ``N(0, 1e-4^2)``, row 0 the zero padding row),
  ``LogisticRegression``, ``InnerProductInteraction``, ``FactorizationMachine`` and ``MLP_Block``.

What this file writes: the batching (a shuffled permutation per epoch, as a shuffling data
loader does), the id encoding (FuxiCTR's rule: ids seen in train get their own row, ids seen only
in validation or test share one out-of-vocabulary row), and each model's forward pass: AFM chains
those layers in the order of the AFM paper's Eq. (6), FM calls the ``FactorizationMachine`` block
on the embeddings, and IPNN feeds the flattened vectors and their pairwise inner products to an
``MLP_Block``. FuxiCTR's pip package ships no model classes for them (its model zoo lives in
the source repository), so the forwards are ours; every parameter they use is created and
initialised by FuxiCTR code.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
import time
from collections import OrderedDict

import numpy as np
import torch
from torch import nn

ROW_PREFIX = "FUXICTR_ROW "


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--npz", required=True, help="arrays written by fuxictr_frappe.py")
    parser.add_argument("--model", choices=["afm", "fm", "pnn"], default="afm")
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--batch-size", type=int, default=4096)
    parser.add_argument("--embed-dim", type=int, default=10)
    parser.add_argument("--attention-dim", type=int, default=128)
    parser.add_argument("--attention-dropout", type=float, nargs=2, default=[0.1, 0.1])
    parser.add_argument("--hidden", type=int, nargs="+", default=[400, 400, 400], help="IPNN MLP")
    parser.add_argument("--dropout", type=float, default=0.3, help="IPNN MLP dropout")
    parser.add_argument("--embedding-l2", type=float, default=1e-5)
    parser.add_argument("--net-l2", type=float, default=0.0, help="penalty on the other weights")
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--patience", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)
    return parser.parse_args(argv)


def encode_like_fuxictr(arrays, features) -> tuple[dict, dict]:
    """Re-encode every field the way FuxiCTR's tokenizer does with ``min_categr_count=1``.

    Row 0 is padding, ids seen in the train split take rows ``1..n`` and every id absent from
    train maps to the out-of-vocabulary row ``n + 1``. Returns ``(encoded, vocab_sizes)`` where
    ``encoded[part][feature]`` is an int64 tensor.
    """
    encoded = {part: {} for part in ("train", "valid", "test")}
    sizes = {}
    for f in features:
        seen = np.unique(arrays[f"train__{f}"])
        oov = len(seen) + 1
        for part in encoded:
            ids = arrays[f"{part}__{f}"]
            pos = np.searchsorted(seen, ids).clip(max=len(seen) - 1)
            known = seen[pos] == ids
            encoded[part][f] = torch.from_numpy(np.where(known, pos + 1, oov).astype(np.int64))
        sizes[f] = oov + 1
    for part in encoded:
        encoded[part]["label"] = torch.from_numpy(arrays[f"{part}__label"].astype(np.float32))
    return encoded, sizes


class Batches:
    """Dict batches of a column table; a fresh random order each pass when ``shuffle``."""

    def __init__(self, columns: dict, batch_size: int, shuffle: bool, generator=None):
        self.columns, self.batch_size, self.shuffle = columns, batch_size, shuffle
        self.generator = generator
        self.rows = len(next(iter(columns.values())))

    def __len__(self) -> int:
        return -(-self.rows // self.batch_size)

    def __iter__(self):
        order = (
            torch.randperm(self.rows, generator=self.generator)
            if self.shuffle
            else torch.arange(self.rows)
        )
        for start in range(0, self.rows, self.batch_size):
            rows = order[start : start + self.batch_size]
            yield {k: v.index_select(0, rows) for k, v in self.columns.items()}


def base_settings(name: str, args, model_root: str) -> dict:
    """What every model passes to FuxiCTR's ``BaseModel``: penalties, patience, metrics, CPU."""
    return {
        "model_id": f"{name}_seed{args.seed}",
        "gpu": -1,
        "embedding_regularizer": args.embedding_l2,
        "net_regularizer": args.net_l2,
        "early_stop_patience": args.patience,
        "verbose": 0,
        "model_root": model_root,
        "metrics": ["AUC", "logloss"],
    }


def build_afm(base_model, layers, feature_map, args, model_root: str):
    """An AFM on FuxiCTR's BaseModel and layers (see the module docstring)."""

    class FuxiAFM(base_model):
        def __init__(self):
            super().__init__(feature_map, **base_settings("AFM", args, model_root))
            D, T = args.embed_dim, args.attention_dim
            self.embedding_layer = layers.FeatureEmbedding(feature_map, D)
            self.product_layer = layers.InnerProductInteraction(
                feature_map.num_fields, output="elementwise_product"
            )
            self.lr_layer = layers.LogisticRegression(feature_map, use_bias=True)
            self.attention = nn.Sequential(
                nn.Linear(D, T), nn.ReLU(), nn.Linear(T, 1, bias=False), nn.Softmax(dim=1)
            )
            self.weight_p = nn.Linear(D, 1, bias=False)
            self.dropout1 = nn.Dropout(args.attention_dropout[0])
            self.dropout2 = nn.Dropout(args.attention_dropout[1])
            self.compile("adam", "binary_crossentropy", args.lr)
            self.reset_parameters()
            self.model_to_device()

        def forward(self, inputs):
            X = self.get_inputs(inputs)
            products = self.product_layer(self.embedding_layer(X))  # (B, P, D)
            weights = self.dropout1(self.attention(products))  # (B, P, 1), softmax over pairs
            pooled = self.dropout2((weights * products).sum(dim=1))  # (B, D)
            logit = self.lr_layer(X) + self.weight_p(pooled)
            return {"y_pred": self.output_activation(logit)}

    return FuxiAFM()


def build_fm(base_model, layers, feature_map, args, model_root: str):
    """An FM on FuxiCTR's BaseModel and its ``FactorizationMachine`` block (first order + pairs)."""

    class FuxiFM(base_model):
        def __init__(self):
            super().__init__(feature_map, **base_settings("FM", args, model_root))
            self.embedding_layer = layers.FeatureEmbedding(feature_map, args.embed_dim)
            self.fm_layer = layers.FactorizationMachine(feature_map)
            self.compile("adam", "binary_crossentropy", args.lr)
            self.reset_parameters()
            self.model_to_device()

        def forward(self, inputs):
            X = self.get_inputs(inputs)
            logit = self.fm_layer(X, self.embedding_layer(X))
            return {"y_pred": self.output_activation(logit)}

    return FuxiFM()


def build_pnn(base_model, layers, feature_map, args, model_root: str):
    """An IPNN on FuxiCTR's BaseModel: the field vectors and their inner products into an MLP."""

    class FuxiIPNN(base_model):
        def __init__(self):
            super().__init__(feature_map, **base_settings("IPNN", args, model_root))
            F, D = feature_map.num_fields, args.embed_dim
            self.embedding_layer = layers.FeatureEmbedding(feature_map, D)
            self.product_layer = layers.InnerProductInteraction(F, output="inner_product")
            self.mlp = layers.MLP_Block(
                input_dim=F * D + F * (F - 1) // 2,
                output_dim=1,
                hidden_units=list(args.hidden),
                hidden_activations="ReLU",
                dropout_rates=args.dropout,
                batch_norm=False,
            )
            self.compile("adam", "binary_crossentropy", args.lr)
            self.reset_parameters()
            self.model_to_device()

        def forward(self, inputs):
            X = self.get_inputs(inputs)
            emb = self.embedding_layer(X)  # (B, F, D)
            z = torch.cat([emb.flatten(start_dim=1), self.product_layer(emb)], dim=1)
            return {"y_pred": self.output_activation(self.mlp(z))}

    return FuxiIPNN()


BUILDERS = {"afm": build_afm, "fm": build_fm, "pnn": build_pnn}


def with_curve(model):
    """Record train loss, validation metrics and learning-rate cuts per epoch, leaving the loop as is."""
    curve, cuts, running = [], [], []
    train_step, eval_step = model.train_step, model.eval_step
    lr_decay, evaluate = model.lr_decay, model.evaluate

    def record_step(batch):
        loss = train_step(batch)
        running.append(loss.item())
        return loss

    def record_eval():
        curve.append({"train_loss": round(float(np.mean(running)), 5)})
        running.clear()
        eval_step()

    def record_evaluate(gen, metrics=None):
        logs = evaluate(gen, metrics)
        if curve and "auc" not in curve[-1]:
            curve[-1].update({"auc": round(float(logs["AUC"]), 5)})
        return logs

    def record_cut(*a, **k):
        cuts.append(len(curve))
        return lr_decay(*a, **k)

    model.train_step, model.eval_step = record_step, record_eval
    model.lr_decay, model.evaluate = record_cut, record_evaluate
    return curve, cuts


def main(argv=None) -> dict:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    # FuxiCTR reports each epoch (train loss, validation metrics, cuts) through logging: the log
    # file that fuxictr_frappe.py keeps per seed shows the run's progress
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stdout)
    from importlib.metadata import version

    from fuxictr.features import FeatureMap
    from fuxictr.pytorch import layers
    from fuxictr.pytorch.models import BaseModel
    from fuxictr.pytorch.torch_utils import seed_everything

    arrays = np.load(args.npz)
    features = [str(f) for f in arrays["features"]]
    encoded, sizes = encode_like_fuxictr(arrays, features)
    feature_map = FeatureMap("frappe_recnotes", tempfile.gettempdir())
    feature_map.labels = ["label"]
    feature_map.features = OrderedDict(
        (f, {"source": "", "type": "categorical", "vocab_size": sizes[f], "padding_idx": 0})
        for f in features
    )
    feature_map.num_fields = feature_map.get_num_fields()
    seed_everything(args.seed)
    with tempfile.TemporaryDirectory() as model_root:
        # FuxiCTR saves the best epoch under model_root/dataset_id
        os.makedirs(os.path.join(model_root, feature_map.dataset_id))
        model = BUILDERS[args.model](BaseModel, layers, feature_map, args, model_root)
        curve, cuts = with_curve(model)
        shuffle = torch.Generator().manual_seed(args.seed)
        train = Batches(encoded["train"], args.batch_size, True, shuffle)
        valid = Batches(encoded["valid"], args.batch_size, False)
        test = Batches(encoded["test"], args.batch_size, False)
        start = time.perf_counter()
        model.fit(train, epochs=args.epochs, validation_data=valid, max_gradient_norm=10.0)
        seconds = time.perf_counter() - start
        logs = model.evaluate(test, metrics=["AUC", "logloss"])
    best = int(np.argmax([e["auc"] for e in curve]))
    row = {
        "seed": args.seed,
        "auc": float(logs["AUC"]),
        "logloss": float(logs["logloss"]),
        "valid_auc": curve[best]["auc"],
        "best_epoch": best + 1,
        "epochs_run": len(curve),
        "lr_cut_epochs": cuts,
        "epoch_time_s": round(seconds / len(curve), 3),
        "curve": curve,
        "num_params": sum(p.numel() for p in model.parameters()),
        "fuxictr": version("fuxictr"),
        "torch": torch.__version__,
    }
    print(ROW_PREFIX + json.dumps(row), flush=True)
    return row


if __name__ == "__main__":
    main()
