"""Data loading: the .npz layout and its validation, missing data, digits, subsets, the data root."""
from __future__ import annotations

import re

import numpy as np
import pytest
import torch

from cl_course import data
from cl_course.data import DataFormatError, DataNotFoundError, load_dataset, read_npz

pytestmark = pytest.mark.usefixtures("clean_env")


def arrays(n_train=6, n_test=4, shape=(5, 7, 3), classes=("a", "b", "c"), seed=0):
    rng = np.random.default_rng(seed)
    return dict(
        x_train=rng.integers(0, 256, (n_train, *shape), dtype=np.uint8),
        y_train=np.arange(n_train) % len(classes),
        x_test=rng.integers(0, 256, (n_test, *shape), dtype=np.uint8),
        y_test=np.arange(n_test) % len(classes),
        classes=np.array(classes),
    )


def write(path, **a):
    np.savez(path, **a)
    return path


def test_read_npz_reads_nhwc_colour_images_as_nchw(tmp_path):
    a = arrays()
    ds = read_npz(write(tmp_path / "tiny.npz", **a))
    assert ds.name == "tiny"
    assert ds.x_train.shape == (6, 3, 5, 7) and ds.x_test.shape == (4, 3, 5, 7)
    assert ds.x_train.dtype == torch.uint8 and ds.y_train.dtype == torch.int64
    assert torch.equal(ds.x_train, torch.from_numpy(a["x_train"]).permute(0, 3, 1, 2))
    assert torch.equal(ds.x_test, torch.from_numpy(a["x_test"]).permute(0, 3, 1, 2))
    assert ds.y_train.tolist() == a["y_train"].tolist()
    assert ds.classes == ["a", "b", "c"] and ds.num_classes == 3 and ds.channels == 3
    assert len(ds.mean) == len(ds.std) == 3
    want_mean = (a["x_train"].astype(np.float64) / 255).mean(axis=(0, 1, 2))
    np.testing.assert_allclose(ds.mean, want_mean, atol=1e-5)


def test_read_npz_reads_nhw_gray_images_with_one_channel(tmp_path):
    a = arrays(shape=(6, 6))
    ds = read_npz(write(tmp_path / "gray.npz", **a))
    assert ds.x_train.shape == (6, 1, 6, 6) and ds.channels == 1 and ds.image_size == 6
    assert torch.equal(ds.x_train[:, 0], torch.from_numpy(a["x_train"]))
    assert len(ds.mean) == 1


def test_read_npz_rejects_a_missing_key_naming_file_and_key(tmp_path):
    a = arrays()
    del a["y_test"]
    path = write(tmp_path / "nokey.npz", **a)
    with pytest.raises(DataFormatError, match=re.escape(str(path)) + r" lacks the key\(s\) y_test"):
        read_npz(path)


def test_read_npz_rejects_float_images(tmp_path):
    a = arrays()
    a["x_train"] = a["x_train"].astype(np.float32)
    path = write(tmp_path / "float.npz", **a)
    with pytest.raises(DataFormatError, match=re.escape(str(path)) + r": x_train must be uint8"):
        read_npz(path)


def test_read_npz_rejects_two_dimensional_images_array(tmp_path):
    a = arrays()
    a["x_test"] = a["x_test"].reshape(4, -1)
    path = write(tmp_path / "flat.npz", **a)
    with pytest.raises(DataFormatError, match=re.escape(str(path)) + r": x_test must have shape"):
        read_npz(path)


def test_read_npz_rejects_labels_of_the_wrong_length(tmp_path):
    a = arrays()
    a["y_train"] = a["y_train"][:-1]
    path = write(tmp_path / "short.npz", **a)
    with pytest.raises(DataFormatError, match=re.escape(str(path)) + r": y_train must be integer labels of shape \(6,\)"):
        read_npz(path)


def test_read_npz_rejects_labels_out_of_range(tmp_path):
    a = arrays()
    a["y_test"] = a["y_test"].copy()
    a["y_test"][0] = 3  # three classes: 0..2
    path = write(tmp_path / "range.npz", **a)
    with pytest.raises(DataFormatError, match=re.escape(str(path)) + r": y_test holds labels outside 0..2"):
        read_npz(path)


def test_read_npz_rejects_negative_labels(tmp_path):
    a = arrays()
    a["y_train"] = a["y_train"] - 1
    path = write(tmp_path / "neg.npz", **a)
    with pytest.raises(DataFormatError, match=r"y_train holds labels outside"):
        read_npz(path)


def test_read_npz_rejects_train_and_test_images_of_different_shapes(tmp_path):
    a = arrays()
    a["x_test"] = np.zeros((4, 5, 5, 3), dtype=np.uint8)
    path = write(tmp_path / "mixed.npz", **a)
    with pytest.raises(DataFormatError, match=re.escape(str(path)) + r": x_train and x_test images differ"):
        read_npz(path)


def test_read_npz_rejects_garbage_bytes(tmp_path):
    path = tmp_path / "garbage.npz"
    path.write_bytes(b"this is not a zip archive at all" * 10)
    with pytest.raises(DataFormatError, match=re.escape(str(path)) + r" is not a readable .npz archive"):
        read_npz(path)


def test_read_npz_checks_a_known_data_sets_image_shape(tmp_path):
    path = write(tmp_path / "cifar10.npz", **arrays(shape=(16, 16, 3)))
    with pytest.raises(DataFormatError, match=r"CIFAR-10 images must have shape \(32, 32, 3\)"):
        read_npz(path)


def test_load_dataset_with_empty_root_and_no_download_says_how_to_fix(tmp_path):
    with pytest.raises(DataNotFoundError) as info:
        load_dataset("cifar10", root=tmp_path, download=False)
    message = str(info.value)
    assert str(tmp_path / "cifar10.npz") in message
    assert "downloading is switched off" in message
    assert "data_root" in message and "CL_COURSE_DATA" in message and "profile='ci'" in message


def test_load_dataset_offline_download_raises_data_not_found(tmp_path, offline):
    with pytest.raises(DataNotFoundError, match=r"the download failed: OSError") as info:
        load_dataset("mnist", root=tmp_path, download=True)
    assert offline == [("mnist", tmp_path)]
    assert "CL_COURSE_DATA" in str(info.value)
    assert isinstance(info.value, FileNotFoundError)


def test_load_dataset_does_not_download_when_switched_off(tmp_path, offline):
    with pytest.raises(DataNotFoundError):
        load_dataset("mnist", root=tmp_path, download=False)
    assert offline == []


def test_load_dataset_reads_a_present_file_without_downloading(tmp_path, offline):
    write(tmp_path / "mnist.npz", **arrays(shape=(28, 28), classes=tuple("0123456789")))
    ds = load_dataset("mnist", root=tmp_path)
    assert ds.name == "mnist" and ds.x_train.shape == (6, 1, 28, 28)
    assert offline == []


def test_load_dataset_rejects_an_unknown_name():
    with pytest.raises(ValueError, match=r"unknown dataset 'imagenet'"):
        load_dataset("imagenet")


def test_digits_loads_without_any_file(tmp_path, offline):
    ds = load_dataset("digits", root=tmp_path / "nothing-here")
    assert ds.x_train.shape == (1297, 1, 16, 16) and ds.x_test.shape == (500, 1, 16, 16)
    assert ds.x_train.dtype == torch.uint8 and ds.y_train.dtype == torch.int64
    assert ds.num_classes == 10 and set(ds.y_train.tolist()) == set(range(10))
    assert ds.x_train.max() > 200  # the 0..16 digits are scaled to the full uint8 range
    assert offline == []


def test_digits_split_is_fixed_and_partitions_all_1797_images():
    a, b = load_dataset("digits"), load_dataset("digits")
    assert torch.equal(a.x_train, b.x_train) and torch.equal(a.y_test, b.y_test)
    train_rows = {tuple(r) for r in a.x_train.flatten(1).tolist()}
    test_rows = {tuple(r) for r in a.x_test.flatten(1).tolist()}
    # sklearn's 1,797 digits are distinct images: a partition has no image on both sides.
    assert len(train_rows) == 1297 and len(test_rows) == 500
    assert not train_rows & test_rows


def test_subset_is_class_balanced_and_drawn_from_the_data():
    ds = load_dataset("digits")
    sub = ds.subset(n_train=100, n_test=50, seed=1)
    assert torch.bincount(sub.y_train, minlength=10).tolist() == [10] * 10
    assert torch.bincount(sub.y_test, minlength=10).tolist() == [5] * 10
    # Every chosen (image, label) is a real training pair.
    for x, y in zip(sub.x_train[:20], sub.y_train[:20]):
        hits = (ds.x_train == x).flatten(1).all(dim=1)
        assert hits.any() and (ds.y_train[hits] == y).any()


def test_subset_none_keeps_a_split_whole_and_seed_is_reproducible():
    ds = load_dataset("digits")
    sub = ds.subset(n_train=None, n_test=20, seed=3)
    assert torch.equal(sub.x_train, ds.x_train) and len(sub.y_test) == 20
    again = ds.subset(n_train=None, n_test=20, seed=3)
    assert torch.equal(sub.y_test, again.y_test) and torch.equal(sub.x_test, again.x_test)


def test_default_data_root_honours_cl_course_data(monkeypatch, tmp_path):
    monkeypatch.setenv("CL_COURSE_DATA", str(tmp_path))
    assert data.default_data_root() == tmp_path
    monkeypatch.delenv("CL_COURSE_DATA")
    assert data.default_data_root() == data.REPO_DATA


def test_load_dataset_without_root_reads_from_cl_course_data(monkeypatch, tmp_path, offline):
    write(tmp_path / "mnist.npz", **arrays(shape=(28, 28), classes=tuple("0123456789")))
    monkeypatch.setenv("CL_COURSE_DATA", str(tmp_path))
    ds = load_dataset("mnist")
    assert ds.source == str(tmp_path / "mnist.npz")


def test_cl_course_no_download_switches_the_default_download_off(monkeypatch, tmp_path, offline):
    monkeypatch.setenv("CL_COURSE_NO_DOWNLOAD", "1")
    with pytest.raises(DataNotFoundError, match=r"downloading is switched off"):
        load_dataset("cifar10", root=tmp_path)
    assert offline == []
    with pytest.raises(DataNotFoundError, match=r"the download failed"):
        load_dataset("cifar10", root=tmp_path, download=True)  # an explicit True still tries
    assert len(offline) == 1


def test_download_is_attempted_by_default_without_cl_course_no_download(tmp_path, offline):
    with pytest.raises(DataNotFoundError, match=r"the download failed"):
        load_dataset("cifar10", root=tmp_path)
    assert offline == [("cifar10", tmp_path)]


def test_read_npz_names_the_file_when_bytes_inside_an_intact_zip_are_damaged(tmp_path):
    path = write(tmp_path / "damaged.npz", **arrays(n_train=200, shape=(8, 8, 3)))
    raw = bytearray(path.read_bytes())
    start = raw.index(b"x_train.npy") + 200  # inside the stored member's data, past its local header
    raw[start:start + 64] = bytes(64)
    path.write_bytes(bytes(raw))
    with pytest.raises(DataFormatError, match=re.escape(str(path)) + r" could not be read \(BadZipFile"):
        read_npz(path)


def test_read_npz_refuses_a_pickled_array_naming_the_file(tmp_path):
    a = arrays()
    a["classes"] = np.array(["a", "b", "c"], dtype=object)
    path = write(tmp_path / "pickled.npz", **a)
    with pytest.raises(DataFormatError, match=re.escape(str(path)) + r" could not be read .*pickle"):
        read_npz(path)


@pytest.mark.parametrize("split", ["train", "test"])
def test_read_npz_refuses_an_empty_split(tmp_path, split):
    path = write(tmp_path / "empty.npz", **arrays(**{f"n_{split}": 0}))
    with pytest.raises(DataFormatError, match=re.escape(str(path)) + f": x_{split} holds no image"):
        read_npz(path)
