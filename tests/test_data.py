"""Data sets load from what ships with the code; the batch stream is exact and resumable."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from PIL import Image

from gan_cli.data import digits, folder, mixtures, torchvision_sets
from gan_cli.data.images import fit_images
from gan_cli.data.source import BatchStream, TensorSource
from gan_cli.errors import DataError

CPU = torch.device("cpu")


def test_digits_are_the_1797_bundled_images_scaled_to_the_resolution():
    src = digits.load(resolution=32, channels=1)
    assert src.data.shape == (1797, 1, 32, 32) and src.data.dtype == torch.uint8
    assert src.meta["labels"].unique().tolist() == list(range(10))
    raw, _ = digits.load_raw()
    assert raw.shape == (1797, 1, 8, 8) and raw.max() == 255 and raw.min() == 0
    assert digits.load(resolution=16, channels=3).data.shape == (1797, 3, 16, 16)


def test_digits_read_from_scikit_learns_file_are_what_its_loader_gives(monkeypatch):
    """load_raw reads the file scikit-learn ships (its import alone takes ~2 s); the same
    images and labels as `load_digits`, which it falls back to when the file is elsewhere."""
    from sklearn.datasets import load_digits

    reference = load_digits()
    want = torch.from_numpy(reference.images).mul(255 / 16).round().to(torch.uint8).unsqueeze(1)
    assert digits._sklearn_file() is not None
    fast = digits.load_raw()
    monkeypatch.setattr(digits, "_sklearn_file", lambda: None)
    for images, labels in (fast, digits.load_raw()):
        assert torch.equal(images, want)
        assert torch.equal(labels, torch.from_numpy(reference.target))


def test_fit_images_resizes_crops_and_converts_channels():
    rgb = torch.zeros(2, 3, 40, 60, dtype=torch.uint8)
    rgb[:, 0] = 255  # pure red
    gray = fit_images(rgb, 16, 1)
    assert gray.shape == (2, 1, 16, 16)
    assert gray.float().mean().item() == pytest.approx(0.299 * 255, abs=1)  # luma of red
    assert fit_images(gray, 8, 3).shape == (2, 3, 8, 8)


@pytest.mark.parametrize(
    ("make", "n_modes", "sigma"), [(mixtures.ring8, 8, 0.01), (mixtures.grid25, 25, 0.05)]
)
def test_mixtures_have_the_stated_modes_and_spread(make, n_modes, sigma):
    src = make(size=20_000, seed=1)
    centres = src.meta["centres"]
    assert centres.shape == (n_modes, 2) and src.meta["sigma"] == sigma
    offsets = src.data - centres[torch.cdist(src.data, centres).argmin(1)]
    assert offsets.std().item() == pytest.approx(sigma, rel=0.05)
    counts = torch.bincount(torch.cdist(src.data, centres).argmin(1), minlength=n_modes)
    assert counts.min() > 0.8 * 20_000 / n_modes  # equal weights


def test_grid25_centres_are_the_grid():
    assert sorted({x for x, _ in mixtures.grid25_centres().tolist()}) == [-4, -2, 0, 2, 4]


def test_stream_shuffles_per_epoch_drops_the_remainder_and_resumes_exactly():
    src = TensorSource(torch.arange(10, dtype=torch.float32).unsqueeze(1), "ten")
    stream = BatchStream(src, batch_size=3, seed=7, device=CPU)
    epoch0 = torch.cat([next(stream) for _ in range(3)]).flatten().tolist()
    assert len(set(epoch0)) == 9  # 3 full batches of 3, one sample dropped, no repeats
    rest = [next(stream) for _ in range(4)]
    assert stream.state_dict() == {"epoch": 2, "taken": 1}

    again = BatchStream(src, batch_size=3, seed=7, device=CPU)
    again.load_state_dict({"epoch": 1, "taken": 1})
    assert all(torch.equal(next(again), batch) for batch in rest[1:])


def test_stream_resumed_exactly_at_an_epoch_end_goes_on_with_the_next_epoch():
    src = TensorSource(torch.arange(8, dtype=torch.float32).unsqueeze(1), "eight")
    straight = BatchStream(src, batch_size=4, seed=3, device=CPU)
    batches = [next(straight) for _ in range(4)]  # two epochs of two batches
    resumed = BatchStream(src, batch_size=4, seed=3, device=CPU)
    resumed.load_state_dict({"epoch": 0, "taken": 2})  # saved after the epoch's last batch
    assert torch.equal(next(resumed), batches[2]) and torch.equal(next(resumed), batches[3])


def test_stream_refuses_a_batch_larger_than_the_data_set():
    src = TensorSource(torch.zeros(4, 2), "four")
    with pytest.raises(DataError, match="fewer than batch_size=8"):
        BatchStream(src, batch_size=8, seed=0, device=CPU)


def test_images_leave_the_source_in_minus_one_to_one():
    src = TensorSource(torch.tensor([0, 255], dtype=torch.uint8).view(2, 1, 1, 1), "two")
    batch = next(BatchStream(src, batch_size=2, seed=0, device=CPU))
    assert sorted(batch.flatten().tolist()) == [-1.0, 1.0]


def test_folder_of_images(tmp_path: Path):
    for i in range(5):
        sub = tmp_path / f"part{i % 2}"  # recursive: files in sub-folders are found
        sub.mkdir(exist_ok=True)
        Image.new("RGB", (40, 30), (i * 50, 0, 0)).save(sub / f"{i}.png")
    (tmp_path / "notes.txt").write_text("not an image")
    src = folder.load(str(tmp_path), resolution=16, channels=3, workers=0)
    assert len(src) == 5 and src.shape == (3, 16, 16)
    batch = next(BatchStream(src, batch_size=4, seed=0, device=CPU))
    assert batch.shape == (4, 3, 16, 16) and batch.min() >= -1 and batch.max() <= 1


def test_folder_errors_name_the_problem(tmp_path: Path):
    with pytest.raises(DataError, match="no such folder"):
        folder.load(str(tmp_path / "missing"))
    with pytest.raises(DataError, match="no images"):
        folder.load(str(tmp_path))
    (tmp_path / "broken.png").write_bytes(b"not a png")
    src = folder.load(str(tmp_path), resolution=8, workers=0, cache=False)
    with pytest.raises(DataError, match="cannot read image .*broken.png"):
        next(BatchStream(src, batch_size=1, seed=0, device=CPU))
    cache = tmp_path / "cache"  # the cache is built at once: the error comes at load time ...
    with pytest.raises(DataError, match="cannot read image .*broken.png"):
        folder.load(str(tmp_path), resolution=8, workers=0, cache_dir=str(cache))
    assert not list(cache.rglob("*.npy*"))  # ... and leaves no half-built cache behind


def test_torchvision_set_offline_fails_with_one_line_naming_files_and_folder(tmp_path: Path):
    with pytest.raises(DataError) as info:
        torchvision_sets.mnist(root=str(tmp_path), download=False)
    message = str(info.value)
    assert "\n" not in message
    assert str(tmp_path / "MNIST" / "raw") in message and "train-images-idx3-ubyte.gz" in message


def test_failed_download_gives_one_line_and_where_to_put_the_files(tmp_path, monkeypatch):
    from torchvision.datasets import MNIST

    # A real download attempt, against a port where nothing listens: it fails as offline would.
    monkeypatch.setattr(MNIST, "mirrors", ["http://127.0.0.1:9/"])
    with pytest.raises(DataError) as info:
        torchvision_sets.mnist(root=str(tmp_path), download=True)
    message = str(info.value)
    assert "\n" not in message and "could not be downloaded" in message
    assert str(tmp_path / "MNIST" / "raw") in message and "train-labels-idx1-ubyte.gz" in message


def test_a_folder_is_decoded_once_into_a_cache_that_follows_its_files(tmp_path):
    from PIL import Image

    root, cache = tmp_path / "images", tmp_path / "cache"
    for cls, shade in (("a", 30), ("b", 220)):
        (root / cls).mkdir(parents=True)
        for i in range(5):
            Image.new("RGB", (20, 24), (shade, i * 10, 0)).save(root / cls / f"{i}.png")
    plain = folder.load(str(root), resolution=16, channels=3, workers=0, cache=False)
    cached = folder.load(str(root), resolution=16, channels=3, workers=0, cache_dir=str(cache))
    built = list((cache / "folders").glob("*.npy"))
    assert len(built) == 1 and isinstance(cached, TensorSource)
    order = torch.arange(10)
    ((x, c),) = list(plain.batches(order, 10, CPU, labels=True))
    ((y, d),) = list(cached.batches(order, 10, CPU, labels=True))
    assert torch.equal(x, y) and torch.equal(c, d) and cached.num_classes == 2
    # read again: the same file, not rebuilt
    stamp = built[0].stat().st_mtime_ns
    folder.load(str(root), resolution=16, channels=3, workers=0, cache_dir=str(cache))
    assert built[0].stat().st_mtime_ns == stamp and len(list(cache.glob("folders/*.npy"))) == 1
    # a changed image (or other settings) is another cache
    Image.new("RGB", (20, 24), (0, 0, 255)).save(root / "a" / "0.png")
    again = folder.load(str(root), resolution=16, channels=3, workers=0, cache_dir=str(cache))
    assert len(list(cache.glob("folders/*.npy"))) == 2
    assert not torch.equal(again.data[0], cached.data[0])
    folder.load(str(root), resolution=8, channels=1, workers=0, cache_dir=str(cache))
    assert len(list(cache.glob("folders/*.npy"))) == 3


def test_grids_enlarge_small_images_pixel_by_pixel_and_leave_larger_ones_alone():
    from gan_cli.samples import image_grid

    small = torch.rand(4, 1, 8, 8) * 2 - 1
    grid = image_grid(small, nrow=2)  # 8 px -> 32 px squares of 4x4, 2 px padding
    assert grid.shape == (3, 2 + 2 * 34, 2 + 2 * 34)
    first = grid[0, 2:34, 2:34].float()
    blocks = first.view(8, 4, 8, 4)
    assert (blocks == blocks[:, :1, :, :1]).all()  # every source pixel is a 4x4 square
    expected = ((small[0, 0] + 1) / 2 * 255).round()
    assert (blocks[:, 0, :, 0] - expected).abs().max() <= 1
    assert image_grid(torch.zeros(4, 3, 32, 32), nrow=2).shape == (3, 2 + 2 * 34, 2 + 2 * 34)
