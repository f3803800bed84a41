"""gan-cli: config-driven GAN experiments behind one `gan` command (see README.md)."""

import time

STARTED = time.time()  # when this command started (the first import): `wall_s` counts from here
