"""Stabilisers: techniques that work with any loss and model, one per file, combined freely
(`gan train stabilizers=[spectral_norm,diffaugment,ema]`). Each subclasses `Stabilizer`
(base.py) and uses the hooks it needs.

Kept free of imports: the config package looks here for `<name>_schema.py` files without
loading torch."""
