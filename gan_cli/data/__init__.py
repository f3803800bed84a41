"""Data sets. Each module has a loader (named by a `_target_` in conf/dataset/) that returns a
source from `source.py`; the trainer draws mini-batches from it through a `BatchStream`."""
