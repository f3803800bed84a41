"""`python -m gan_cli VERB ...`, the same as `gan VERB ...`.

`python -m` puts the current folder first on the import path; gan-cli never imports code from
wherever it happens to run (a downloaded run folder, say), so that entry goes before anything
else is imported. (The `gan` command itself never had it.)"""

import os
import sys

sys.path[:] = [p for p in sys.path if p not in ("", os.getcwd())]

from gan_cli.cli import main  # noqa: E402

main()
