"""Tutorial: rank handwritten digits by an autoencoder's reconstruction error.

Data: the UCI handwritten digits shipped with scikit-learn (`load_digits`: 1797
images of 8x8 pixels, 0..16, no download).

Ours: each image is a window of 8 time steps (its rows) x 8 channels (its columns),
scaled by one global mean and standard deviation of the training pixels (per-column
statistics would divide the nearly always blank edge columns by ~0), fitted with
`stream_ae.model.training.fit` and scored with `AutoencoderScorer`, the detector's
scorer, in both model kinds: the dense kind (an image is a record, taken whole) and
the LSTM (an image read row by row). Pixels are one quantity, not sensors of different
units, so the score is the mean squared error over the whole image (unit error
scales, channels combined by their mean) rather than the detector's per-channel
maximum. No stream here: images are independent.

Tutorial: a dense autoencoder on the 64 flattened pixels scaled to [0, 1] (pixel / 16),
64-32-8-32-64, ranking images by reconstruction error.

Two settings:

- "all" (what the tutorial did): train on every image and rank every image; the top
  of the list is the oddest-looking handwriting. There is no ground truth, so the
  table compares the two rankings: overlap of the top-16 / top-50 lists, Spearman
  correlation of the scores, and the labels at the top. The top 16 of each method
  are saved as PNG grids (score and label under each image) in --out.
- "one-class" (a check that can fail): train on 80% of the zeros, rank the other 20%
  of the zeros together with every image of the other nine digits; a good detector
  puts other digits at the top. Reported: share of other digits in the top 50 and
  ROC AUC of "not a zero" by score.

    python benchmarks/scenarios/digits_ranking.py [--quick] [--out DIR]
"""

from __future__ import annotations

import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

import common as c
import numpy as np
from scipy.stats import spearmanr
from sklearn.datasets import load_digits
from sklearn.metrics import roc_auc_score

from stream_ae.core.channels import ErrorScales
from stream_ae.model.scorer import AutoencoderScorer
from stream_ae.model.training import TrainConfig, fit

NORMAL_CLASS = 0
TOP = 16
TOP_CHECK = 50


def config(quick: bool, kind: str = "lstm") -> TrainConfig:
    return TrainConfig(
        kind=kind,
        hidden=32,
        latent=8,
        epochs=30 if quick else 60,
        batch_size=32,
        learning_rate=2e-3,
        patience=8,
        seed=c.SEED,
        threads=1,
    )


def scorer_of(train: np.ndarray, quick: bool, kind: str) -> tuple[AutoencoderScorer, float, float]:
    """Our autoencoder of `kind` fitted on `train` images `[n, 8, 8]`, with the scaling."""
    mean, std = float(train.mean()), float(train.std())
    result = fit(((train - mean) / std).astype(np.float32), config(quick, kind), progress=False)
    scorer = AutoencoderScorer(
        result.module,
        "digits",
        window=8,
        channels=8,
        device="cpu",
        engine="eager",
        error_scales=ErrorScales.unit(8, "mean"),
    )
    return scorer, mean, std


def ours(train: np.ndarray, score: np.ndarray, quick: bool, kind: str = "lstm") -> np.ndarray:
    """Fit our autoencoder of `kind` on `train` images; the scores of `score` images."""
    scorer, mean, std = scorer_of(train, quick, kind)
    return scorer.score(((score - mean) / std).astype(np.float32)).scores


def ours_dense(train: np.ndarray, score: np.ndarray, quick: bool) -> np.ndarray:
    return ours(train, score, quick, "dense")


METHODS = {"ours": ours, "dense": ours_dense}
"""Our two model kinds, beside the tutorial's `baseline`."""
NAMES = {
    "dense": "ours, dense AE",
    "ours": "ours, LSTM AE",
    "tutorial": "tutorial dense AE",
}


def baseline(train: np.ndarray, score: np.ndarray, quick: bool) -> np.ndarray:
    model = c.DenseAE([64, 32, 8, 32, 64])
    flat = train.reshape(len(train), 64) / 16.0
    c.train_baseline(model, flat, epochs=30 if quick else 60, batch_size=32, learning_rate=1e-3)
    return c.reconstruction_errors(model, score.reshape(len(score), 64) / 16.0)


def top(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k highest scores, highest first (ties by index: reproducible)."""
    return np.lexsort((np.arange(len(scores)), -scores))[:k]


def save_grid(
    path: Path, images: np.ndarray, labels: np.ndarray, scores: np.ndarray, title: str
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(4, 4, figsize=(6, 6.6))
    for ax, image, label, score in zip(axes.flat, images, labels, scores, strict=True):
        ax.imshow(image, cmap="gray_r", vmin=0, vmax=16)
        ax.set_title(f"{label}: {score:.3g}", fontsize=8)
        ax.set_axis_off()
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def save_reconstructions(
    path: Path,
    images: np.ndarray,
    rebuilt: np.ndarray,
    labels: np.ndarray,
    scores: np.ndarray,
    title: str,
) -> None:
    """Each image beside what the model expected of it: 4 rows of 4 pairs."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(4, 8, figsize=(9, 5.2))
    for i, (image, expected, label, score) in enumerate(
        zip(images, rebuilt, labels, scores, strict=True)
    ):
        seen, model = axes.flat[2 * i], axes.flat[2 * i + 1]
        seen.imshow(image, cmap="gray_r", vmin=0, vmax=16)
        model.imshow(expected, cmap="Blues", vmin=0, vmax=16)
        seen.set_title(f"{label}: {score:.3g}", fontsize=8)
        model.set_title("expected", fontsize=8)
        seen.set_axis_off()
        model.set_axis_off()
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def run(quick: bool, out: Path) -> dict[str, Any]:
    out.mkdir(parents=True, exist_ok=True)
    digits = load_digits()
    images = digits.images.astype(np.float32)  # [1797, 8, 8]: rows = steps, columns = channels
    labels = digits.target
    results: dict[str, Any] = {}

    # Setting "all": train on every image, rank every image.
    dense, mean, std = scorer_of(images, quick, "dense")
    judged = dense.score(((images - mean) / std).astype(np.float32))
    scores = {
        "dense": judged.scores,
        "ours": ours(images, images, quick),
        "tutorial": baseline(images, images, quick),
    }
    tops = {name: top(s, TOP_CHECK) for name, s in scores.items()}
    pngs = {}
    for name, s in scores.items():
        best = tops[name][:TOP]
        pngs[name] = out / f"digits_top{TOP}_{name}.png"
        what = NAMES[name] if name != "tutorial" else "dense AE 64-32-8-32-64"
        save_grid(pngs[name], images[best], labels[best], s[best], f"top {TOP}: {what}")
    best = tops["dense"][:TOP]
    pngs["dense_expected"] = out / f"digits_top{TOP}_dense_expected.png"
    save_reconstructions(
        pngs["dense_expected"],
        images[best],
        judged.expected[best] * std + mean,
        labels[best],
        scores["dense"][best],
        f"the {TOP} most anomalous digits (ours, dense AE), each beside what the model expected",
    )
    tutorial_top = tops["tutorial"]
    results["all"] = {
        "labels16": {k: Counter(labels[v[:TOP]].tolist()) for k, v in tops.items()},
        "png": pngs,
    }
    for name in METHODS:
        results["all"][name] = {
            "overlap16": len(set(tops[name][:TOP]) & set(tutorial_top[:TOP])),
            "overlap50": len(set(tops[name]) & set(tutorial_top)),
            "spearman": float(spearmanr(scores[name], scores["tutorial"]).statistic),
        }

    # Setting "one-class": train on 80% of one digit, rank the rest; every digit in turn.
    sweep = {d: one_class_run(images, labels, d, quick) for d in range(10)}
    results["one_class_sweep"] = sweep
    results["one_class"] = one_class = sweep[NORMAL_CLASS]
    n_rest, n_held = one_class["n_rest"], one_class["n_held"]

    a = results["all"]

    def label_mix(name: str) -> str:
        return " ".join(f"{d}:{n}" for d, n in sorted(a["labels16"][name].items()))

    rows = [
        [
            NAMES[name],
            label_mix(name),
            *(
                (a[name]["overlap16"], a[name]["overlap50"], a[name]["spearman"])
                if name in a
                else ("", "", "")
            ),
            one_class[name]["other_share"],
            one_class[name]["auc"],
        ]
        for name in NAMES
    ]
    lstm, dense = config(quick), config(quick, "dense")
    title = (
        f"(d) digits_ranking: sklearn load_digits, {len(images)} images 8x8"
        f"{' [quick]' if quick else ''}\n"
        f"ours: image = window of 8 steps x 8 channels, global scaling, score = mean squared "
        f"error over the image; dense AE 64-{dense.hidden}-{dense.latent}-{dense.hidden}-64 and "
        f"LSTM AE hidden {lstm.hidden} latent {lstm.latent}, <= {lstm.epochs} epochs (early "
        f"stopping); tutorial: dense AE 64-32-8-32-64 on pixel/16, {30 if quick else 60} epochs\n"
        f"'all': train on every image and rank them all (top-{TOP} labels, overlap with the "
        f"tutorial's top-{TOP} / top-{TOP_CHECK} lists, Spearman of scores); 'one-class': train on "
        f"80% of the {NORMAL_CLASS}s, rank {n_rest} images ({n_held} held-out "
        f"{NORMAL_CLASS}s): share of other digits in the top {TOP_CHECK}, ROC AUC\n"
        f"PNG grids: {', '.join(str(p) for p in pngs.values())}"
    )
    headers = [
        "method",
        f"all: top-{TOP} labels (digit:count)",
        f"overlap@{TOP}",
        f"overlap@{TOP_CHECK}",
        "spearman",
        f"one-class: other@{TOP_CHECK}",
        "AUC",
    ]
    results["auc"] = {name: [sweep[d][name]["auc"] for d in range(10)] for name in NAMES}
    per_digit = c.table(
        "one-class ROC AUC for every digit as the normal class (train on 80% of it, rank the "
        "held-out rest of it among all other images)",
        ["method", *map(str, range(10)), "mean", "min"],
        [
            [
                label,
                *results["auc"][name],
                float(np.mean(results["auc"][name])),
                float(np.min(results["auc"][name])),
            ]
            for name, label in NAMES.items()
        ],
    )
    results["table"] = c.table(title, headers, rows) + "\n\n" + per_digit
    return results


def one_class_run(
    images: np.ndarray, labels: np.ndarray, digit: int, quick: bool
) -> dict[str, Any]:
    """Train on 80% of `digit`'s images; score the held-out rest of them among all others."""
    rng = np.random.default_rng(c.SEED)
    normal = np.flatnonzero(labels == digit)
    fit_idx = np.sort(rng.choice(normal, size=int(0.8 * len(normal)), replace=False))
    rest = np.setdiff1d(np.arange(len(images)), fit_idx)
    other = labels[rest] != digit
    found: dict[str, Any] = {"n_rest": len(rest), "n_held": int((~other).sum())}
    for name, method in (*METHODS.items(), ("tutorial", baseline)):
        s = method(images[fit_idx], images[rest], quick)
        found[name] = {
            "other_share": float(other[top(s, TOP_CHECK)].mean()),
            "auc": float(roc_auc_score(other, s)),
        }
    return found


if __name__ == "__main__":
    c.cli(
        run,
        __doc__,
        "fewer epochs",
        Path(tempfile.gettempdir()) / "stream_ae_scenarios" / "digits_ranking",
    )
