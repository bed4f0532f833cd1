"""What patient data (age, sex, body site) would add to the network's answer, on validation only.

Joins `evaluate --split val --predictions FILE`'s per-photo probabilities with HAM10000's
metadata and fits, by lesion-grouped cross-validation on the validation split, the same
class-balanced multinomial logistic regression twice: on the network's log probabilities
alone, and on those plus age (standardised, with a missing flag), sex and body site (one-hot,
"unknown" a value of its own). Out-of-fold balanced accuracy and macro F1 of each, over
several fold draws, and the paired difference. dx_type (how the diagnosis was confirmed) is
left out: it leaks the label. The test split is never read.

    cargo run --release -p train-native -- evaluate --split val --predictions val.csv
    pip install numpy scikit-learn
    python3 train-native/examples/metadata_fusion.py val.csv [../shared/ham10000/HAM10000_metadata.csv]
"""

import csv
import sys

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import balanced_accuracy_score, f1_score
from sklearn.model_selection import GroupKFold

CLASSES = ["akiec", "bcc", "bkl", "df", "mel", "nv", "vasc"]
DRAWS = 10
FOLDS = 5


def read(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def features(rows, meta, with_patient):
    logp = np.log(np.clip([[float(r[c]) for c in CLASSES] for r in rows], 1e-6, 1.0))
    if not with_patient:
        return logp
    m = [meta[r["image_id"]] for r in rows]
    ages = np.array([float(x["age"]) if x["age"] not in ("", "NaN", "nan") else np.nan for x in m])
    missing = np.isnan(ages)
    mean, sd = np.nanmean(ages), np.nanstd(ages)
    age = np.where(missing, 0.0, (ages - mean) / sd)
    columns = [logp, age[:, None], missing[:, None].astype(float)]
    for key in ("sex", "localization"):
        values = sorted({x[key] or "unknown" for x in m})
        columns.append(np.array([[float((x[key] or "unknown") == v) for v in values] for x in m]))
    return np.hstack(columns)


def out_of_fold(x, y, groups, draw):
    # GroupKFold has no shuffle: permute the lesions' order per draw instead.
    rng = np.random.default_rng(draw)
    lesions = np.unique(groups)
    renamed = dict(zip(lesions, rng.permutation(len(lesions))))
    keys = np.array([renamed[g] for g in groups])
    predicted = np.empty_like(y)
    for train, held in GroupKFold(n_splits=FOLDS).split(x, y, keys):
        model = LogisticRegression(C=1.0, class_weight="balanced", max_iter=2000)
        model.fit(x[train], y[train])
        predicted[held] = model.predict(x[held])
    return balanced_accuracy_score(y, predicted), f1_score(y, predicted, average="macro")


def main():
    predictions = sys.argv[1]
    metadata = sys.argv[2] if len(sys.argv) > 2 else "../shared/ham10000/HAM10000_metadata.csv"
    rows = read(predictions)
    meta = {r["image_id"]: r for r in read(metadata)}
    y = np.array([CLASSES.index(r["dx"]) for r in rows])
    groups = np.array([r["lesion_id"] for r in rows])
    print(f"{len(rows)} photos of {len(set(groups))} lesions; {DRAWS} draws of {FOLDS} lesion-grouped folds")
    scores = {}
    for name, with_patient in (("network alone", False), ("network + age, sex, site", True)):
        x = features(rows, meta, with_patient)
        scores[name] = np.array([out_of_fold(x, y, groups, d) for d in range(DRAWS)])
        ba, f1 = scores[name].mean(axis=0)
        sba, sf1 = scores[name].std(axis=0)
        print(f"{name:26s} balanced accuracy {ba:.4f} ± {sba:.4f}, macro F1 {f1:.4f} ± {sf1:.4f}")
    gain = scores["network + age, sex, site"] - scores["network alone"]
    print(
        "gain from patient data (paired over draws): balanced accuracy "
        f"{gain[:, 0].mean():+.4f} (min {gain[:, 0].min():+.4f}, max {gain[:, 0].max():+.4f}), "
        f"macro F1 {gain[:, 1].mean():+.4f} (min {gain[:, 1].min():+.4f}, max {gain[:, 1].max():+.4f})"
    )


if __name__ == "__main__":
    main()
