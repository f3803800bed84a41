"""The README's two pictures from one finished run (the default `gan train`):
docs/images/samples.png, its last sample grid enlarged (nearest neighbour, so the 8x8 digits
stay sharp), and docs/images/tensorboard.png, the scalars of its TensorBoard event file drawn
one panel per tag as TensorBoard's Scalars tab shows them (read with TensorBoard's own
EventAccumulator; no browser is needed to make it).

    .venv/bin/python scripts/readme_images.py RUN_FOLDER
"""

from __future__ import annotations

import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from PIL import Image  # noqa: E402
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402

OUT = Path(__file__).resolve().parent.parent / "docs" / "images"
# the panels shown, in order: the losses, D's outputs, speed and the evaluation's headline
TAGS = ("Loss/D", "Loss/G", "D/real", "D/fake", "Metrics/fid", "Metrics/precision",
        "Metrics/recall", "speed/img_per_s")  # fmt: skip
ORANGE = "#ff7043"  # TensorBoard's default run colour


def samples(run: Path) -> None:
    last = sorted((run / "samples").glob("samples_*.png"))[-1]
    img = Image.open(last)
    scale = max(1, 512 // max(img.size))
    img.resize((img.width * scale, img.height * scale), Image.NEAREST).save(OUT / "samples.png")


def smoothed(values: list[float], weight: float = 0.6) -> list[float]:
    """TensorBoard's default smoothing: a debiased exponential moving average."""
    out, last = [], 0.0
    for n, v in enumerate(values, start=1):
        last = last * weight + (1 - weight) * v
        out.append(last / (1 - weight**n))
    return out


def scalars(run: Path) -> None:
    events = EventAccumulator(str(run), size_guidance={"scalars": 0})
    events.Reload()
    tags = [t for t in TAGS if t in events.Tags()["scalars"]]
    fig, axes = plt.subplots(2, 4, figsize=(12, 5.2))
    for ax, tag in zip(axes.flat, tags, strict=False):
        points = events.Scalars(tag)
        steps, values = [p.step for p in points], [p.value for p in points]
        if len(steps) < 5:  # an evaluation every 1,000 steps: the points themselves
            ax.plot(steps, values, color=ORANGE, lw=1.6, marker="o")
        else:
            ax.plot(steps, values, color=ORANGE, alpha=0.3, lw=1)
            ax.plot(steps, smoothed(values), color=ORANGE, lw=1.6)
        ax.set_title(tag, fontsize=10, loc="left")
        ax.grid(color="#e0e0e0", lw=0.6)
        ax.tick_params(labelsize=8)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
    for ax in list(axes.flat)[len(tags) :]:
        ax.axis("off")
    fig.suptitle(f"TensorBoard scalars of `gan train` ({run.name})", fontsize=11, x=0.01,
                 ha="left")  # fmt: skip
    fig.tight_layout()
    fig.savefig(OUT / "tensorboard.png", dpi=90)


if __name__ == "__main__":
    run = Path(sys.argv[1])
    OUT.mkdir(parents=True, exist_ok=True)
    samples(run)
    scalars(run)
    print(f"wrote {OUT / 'samples.png'} and {OUT / 'tensorboard.png'}")
