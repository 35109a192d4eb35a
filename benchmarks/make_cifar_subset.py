"""Write a class-balanced subset of the CIFAR-10 copy, in the same ``.npz`` layout, for the GPU check.

    python benchmarks/make_cifar_subset.py [--src ../shared/data/cifar10.npz] [--out .gpu_data/cifar10.npz]
                                           [--train 10000] [--test 2000]

Why: the GPU machine has no network and takes at most 64 MiB (repository + carried folders); the
full copy is 170 MB. A compressed 10,000 + 2,000 subset is about a fifth of that and still reads
through ``cl_course.data.load_dataset("cifar10", ".gpu_data")`` (the loader checks keys, dtypes,
shapes and label ranges, not counts), so ``tinted_cifar10`` of notebooks 06-07 is derived from it too.

Every key of the source is copied with its dtype (``classes``, and ``test_is_lossless`` sliced to
the chosen test images); the first ``n / 10`` images of each class are taken, in the source's order,
so the subset is deterministic.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent


def balanced_indices(labels: np.ndarray, n: int) -> np.ndarray:
    """The first ``n // K`` indices of each of the ``K`` classes, back in the source's order."""
    classes = np.unique(labels)
    per_class = n // len(classes)
    picked = []
    for c in classes:
        idx = np.flatnonzero(labels == c)
        if len(idx) < per_class:
            raise SystemExit(f"class {c} has {len(idx)} images, fewer than the {per_class} asked for")
        picked.append(idx[:per_class])
    return np.sort(np.concatenate(picked))


def subset_arrays(src: dict, n_train: int, n_test: int) -> dict:
    """The source's arrays cut to the chosen rows; per-image test keys follow ``x_test``."""
    tr, te = balanced_indices(src["y_train"], n_train), balanced_indices(src["y_test"], n_test)
    out = {}
    for key, value in src.items():
        if key.endswith("_train") and len(value) == len(src["y_train"]):
            out[key] = value[tr]
        elif len(value) == len(src["y_test"]) and key != "classes":
            out[key] = value[te]  # x_test, y_test, test_is_lossless
        else:
            out[key] = value  # classes
    return out


def main(argv=None) -> Path:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--src", default=str(ROOT.parent / "shared" / "data" / "cifar10.npz"))
    ap.add_argument("--out", default=str(ROOT / ".gpu_data" / "cifar10.npz"))
    ap.add_argument("--train", type=int, default=10_000)
    ap.add_argument("--test", type=int, default=2_000)
    args = ap.parse_args(argv)
    with np.load(args.src, allow_pickle=False) as archive:
        src = {k: archive[k] for k in archive.files}
    arrays = subset_arrays(src, args.train, args.test)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.stem + ".partial.npz")
    np.savez_compressed(tmp, **arrays)
    tmp.replace(out)
    print(f"wrote {out}: " + ", ".join(f"{k} {v.dtype} {v.shape}" for k, v in arrays.items())
          + f"; {out.stat().st_size / 2**20:.1f} MiB")
    return out


if __name__ == "__main__":
    main()
