"""Data sets. Each module has a loader (named by a `_target_` in conf/dataset/) that returns a
source from `source.py`; the trainer draws mini-batches from it through a `BatchStream`."""

from gan_cli.registry import build

# Keys that checkpoints of format gan-cli/1 stored in their dataset config (how it was
# evaluated, not how it is loaded); ignored when loading one.
EVAL_KEYS = ("metrics", "eval_every")


def load_dataset(node):
    """The data source a `dataset` config node describes."""
    return build(node, "dataset", ignore=EVAL_KEYS)
