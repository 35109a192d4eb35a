"""Image data sets as in-memory uint8 tensors: CIFAR-10 and MNIST (offline ``.npz`` copies or
torchvision's downloaders, cached), and scikit-learn's digits for the ``ci`` profile.

Layout of a ``.npz`` file in the data root (the one of ``../shared/data/README.md``):
``x_train`` uint8 ``(N, H, W, C)`` or ``(N, H, W)``, ``y_train`` int ``(N,)``, ``x_test``,
``y_test`` likewise, ``classes`` str ``(K,)``. Images are held as ``(N, C, H, W)`` uint8 tensors.
"""
from __future__ import annotations

import os
import zipfile
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

REPO_DATA = Path(__file__).resolve().parent.parent / "data"
DATASETS = ("cifar10", "mnist", "digits")
REAL_DATASETS = ("cifar10", "mnist")
REQUIRED_KEYS = ("x_train", "y_train", "x_test", "y_test", "classes")
_EXPECTED_IMAGE = {"cifar10": (32, 32, 3), "mnist": (28, 28)}
_PRETTY = {"cifar10": "CIFAR-10", "mnist": "MNIST", "digits": "scikit-learn digits"}


class DataNotFoundError(FileNotFoundError):
    """A real data set is neither in the data root nor downloadable."""


class DataFormatError(ValueError):
    """A data file exists but does not have the documented layout."""


@dataclass
class ImageDataset:
    """A labelled image data set held in memory.

    ``x_*`` are uint8 ``(N, C, H, W)`` tensors, ``y_*`` int64 ``(N,)``; ``mean``/``std`` are the
    per-channel statistics of the training images in ``[0, 1]`` units.
    """

    name: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    classes: list[str]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    source: str = ""
    # Biased data sets (cl_course.shortcuts) also record each sample's shortcut attribute (e.g. its
    # colour, int64 (N,)) and its names; a sample's group is (label, attribute).
    attr_train: torch.Tensor | None = None
    attr_test: torch.Tensor | None = None
    attributes: list[str] | None = None
    # The training images before the shortcut was applied (uint8, same order as x_train) and how it
    # is applied ("paint"/"tint"): cl_course.shortcuts recolours them into an unbiased training split.
    x_train_source: torch.Tensor | None = None
    colouring: str | None = None

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def channels(self) -> int:
        return self.x_train.shape[1]

    @property
    def image_size(self) -> int:
        return self.x_train.shape[-1]

    def subset(self, n_train: int | None = None, n_test: int | None = None, seed: int = 0) -> "ImageDataset":
        """A class-balanced random subset (``None`` keeps a split whole)."""
        gen = torch.Generator().manual_seed(seed)

        def pick(y, n):
            if n is None or n >= len(y):
                return torch.arange(len(y))
            per_class = [torch.nonzero(y == c).flatten() for c in range(self.num_classes)]
            take = [idx[torch.randperm(len(idx), generator=gen)[: n // self.num_classes]] for idx in per_class]
            chosen = torch.cat(take)
            return chosen[torch.randperm(len(chosen), generator=gen)]

        tr, te = pick(self.y_train, n_train), pick(self.y_test, n_test)
        attrs = {} if self.attr_train is None else dict(attr_train=self.attr_train[tr], attr_test=self.attr_test[te])
        if self.x_train_source is not None:
            attrs["x_train_source"] = self.x_train_source[tr]
        return replace(self, x_train=self.x_train[tr], y_train=self.y_train[tr],
                       x_test=self.x_test[te], y_test=self.y_test[te], **attrs)

    def __repr__(self) -> str:
        return (f"ImageDataset({self.name!r}: train {tuple(self.x_train.shape)}, test "
                f"{tuple(self.x_test.shape)}, {self.num_classes} classes, from {self.source})")


def default_data_root() -> Path:
    """``$CL_COURSE_DATA`` if set, else the project's ``data/`` folder."""
    env = os.environ.get("CL_COURSE_DATA")
    return Path(env).expanduser() if env else REPO_DATA


def _channel_stats(x: torch.Tensor) -> tuple[tuple[float, ...], tuple[float, ...]]:
    sample = x[: min(len(x), 10000)].float().div(255)
    return tuple(sample.mean(dim=(0, 2, 3)).tolist()), tuple(sample.std(dim=(0, 2, 3)).tolist())


def _to_nchw(x: np.ndarray) -> torch.Tensor:
    t = torch.from_numpy(np.ascontiguousarray(x))
    return t.unsqueeze(1) if t.dim() == 3 else t.permute(0, 3, 1, 2).contiguous()


def read_npz(path: str | os.PathLike, name: str | None = None) -> ImageDataset:
    """Read and validate a data set stored in the documented ``.npz`` layout."""
    path = Path(path)
    fix = f"Replace {path} with a file in the layout of the data README (keys {', '.join(REQUIRED_KEYS)})."
    try:
        archive = np.load(path, allow_pickle=False)
    except Exception as exc:  # zip errors, truncated files, pickles
        raise DataFormatError(f"{path} is not a readable .npz archive ({exc}). {fix}") from exc
    with archive:
        missing = [k for k in REQUIRED_KEYS if k not in archive.files]
        if missing:
            raise DataFormatError(f"{path} lacks the key(s) {', '.join(missing)}. {fix}")
        try:  # members are read lazily: damaged bytes and pickled arrays surface here
            arrays = {k: archive[k] for k in REQUIRED_KEYS}
        except (zipfile.BadZipFile, ValueError, OSError, EOFError) as exc:
            raise DataFormatError(f"{path} could not be read ({type(exc).__name__}: {exc}); the file is damaged "
                                  f"or stores an array with pickle. {fix}") from exc
    for split in ("train", "test"):
        x, y = arrays[f"x_{split}"], arrays[f"y_{split}"]
        if len(x) == 0:
            raise DataFormatError(f"{path}: x_{split} holds no image. {fix}")
        if x.dtype != np.uint8:
            raise DataFormatError(f"{path}: x_{split} must be uint8 (0-255), got {x.dtype}. {fix}")
        if x.ndim not in (3, 4) or (x.ndim == 4 and x.shape[-1] not in (1, 3)):
            raise DataFormatError(
                f"{path}: x_{split} must have shape (N, H, W) or (N, H, W, C) with C in (1, 3), "
                f"got {x.shape}. {fix}")
        if y.ndim != 1 or len(y) != len(x) or not np.issubdtype(y.dtype, np.integer):
            raise DataFormatError(
                f"{path}: y_{split} must be integer labels of shape ({len(x)},), got {y.dtype} {y.shape}. {fix}")
    if arrays["x_train"].shape[1:] != arrays["x_test"].shape[1:]:
        raise DataFormatError(f"{path}: x_train and x_test images differ in shape. {fix}")
    classes = [str(c) for c in arrays["classes"]]
    for split in ("train", "test"):
        y = arrays[f"y_{split}"]
        if len(y) and (y.min() < 0 or y.max() >= len(classes)):
            raise DataFormatError(f"{path}: y_{split} holds labels outside 0..{len(classes) - 1}. {fix}")
    name = name or path.stem
    expected = _EXPECTED_IMAGE.get(name)
    if expected is not None and arrays["x_train"].shape[1:] != expected:
        raise DataFormatError(
            f"{path}: {_PRETTY[name]} images must have shape {expected}, got {arrays['x_train'].shape[1:]}. {fix}")
    x_train = _to_nchw(arrays["x_train"])
    mean, std = _channel_stats(x_train)
    return ImageDataset(
        name=name, x_train=x_train, y_train=torch.from_numpy(arrays["y_train"].astype(np.int64)),
        x_test=_to_nchw(arrays["x_test"]), y_test=torch.from_numpy(arrays["y_test"].astype(np.int64)),
        classes=classes, mean=mean, std=std, source=str(path))


def _download(name: str, root: Path) -> Path:
    """Fetch a real data set with torchvision and cache it as ``root/<name>.npz`` (uncompressed)."""
    import torchvision

    cls = {"cifar10": torchvision.datasets.CIFAR10, "mnist": torchvision.datasets.MNIST}[name]
    raw = root / "torchvision"
    splits = {s: cls(str(raw), train=(s == "train"), download=True) for s in ("train", "test")}

    def arrays(ds):
        x = ds.data.numpy() if torch.is_tensor(ds.data) else np.asarray(ds.data)
        y = ds.targets.numpy() if torch.is_tensor(ds.targets) else np.asarray(ds.targets)
        return x.astype(np.uint8), y.astype(np.int64)

    (x_tr, y_tr), (x_te, y_te) = arrays(splits["train"]), arrays(splits["test"])
    target = root / f"{name}.npz"
    root.mkdir(parents=True, exist_ok=True)
    tmp = root / f".{name}.partial.npz"
    np.savez(tmp, x_train=x_tr, y_train=y_tr, x_test=x_te, y_test=y_te,
             classes=np.array(splits["train"].classes))
    tmp.replace(target)
    return target


def load_digits_dataset(size: int = 16) -> ImageDataset:
    """scikit-learn's 8×8 handwritten digits (shipped with the package: no network, no copy),
    upsampled to ``size``×``size``, one channel; a fixed split of 1,297 train / 500 test images."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = torch.from_numpy(digits.images).float().unsqueeze(1) / 16.0  # (1797, 1, 8, 8) in [0, 1]
    x = torch.nn.functional.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
    x = (x.clamp(0, 1) * 255).round().to(torch.uint8)
    y = torch.from_numpy(digits.target.astype(np.int64))
    order = torch.randperm(len(y), generator=torch.Generator().manual_seed(0))
    tr, te = order[500:], order[:500]
    mean, std = _channel_stats(x[tr])
    return ImageDataset("digits", x[tr], y[tr], x[te], y[te], [str(i) for i in range(10)], mean, std,
                        source="sklearn.datasets.load_digits")


def find_dataset(name: str, root: str | os.PathLike | None = None) -> Path | None:
    """Path of ``<root>/<name>.npz`` if it exists, else ``None``."""
    path = Path(root).expanduser() if root is not None else default_data_root()
    candidate = path / f"{name}.npz"
    return candidate if candidate.is_file() else None


def load_dataset(name: str, root: str | os.PathLike | None = None, download: bool | None = None) -> ImageDataset:
    """Load a data set by name: ``"cifar10"``, ``"mnist"`` or ``"digits"``.

    Real data sets are read from ``<root>/<name>.npz``; when the file is absent and ``download``
    is true they are downloaded with torchvision into ``root`` and cached there as ``.npz``
    (``download=None``: true unless the environment variable ``CL_COURSE_NO_DOWNLOAD`` is set).
    ``root`` defaults to ``$CL_COURSE_DATA``, else the project's ``data/`` folder.

    Raises:
        ValueError: unknown name.
        DataNotFoundError: the file is absent and cannot be downloaded.
        DataFormatError: the file does not have the documented layout.
    """
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}: choose one of {', '.join(DATASETS)}")
    if name == "digits":
        return load_digits_dataset()
    root = Path(root).expanduser() if root is not None else default_data_root()
    if download is None:
        download = not os.environ.get("CL_COURSE_NO_DOWNLOAD")
    path = find_dataset(name, root)
    if path is None:
        reason = "downloading is switched off"
        if download:
            try:
                path = _download(name, root)
            except Exception as exc:  # offline, read-only root, ...
                reason = f"the download failed: {type(exc).__name__}: {exc}"
        if path is None:
            raise DataNotFoundError(
                f"{_PRETTY[name]} was not found at {root / (name + '.npz')} and {reason}. "
                f"Set data_root (or the environment variable CL_COURSE_DATA) to a folder holding "
                f"{name}.npz (on the course machines: ../shared/data), connect to the network so it "
                f"can be downloaded, or use profile='ci', which needs no data.")
    return read_npz(path, name)
