"""GAN objectives, one per file, behind the phase interface in `base.py` (`GANLoss`).

Kept free of imports: the config package looks here for `<name>_schema.py` files without
loading torch."""
