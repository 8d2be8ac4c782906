"""Imported by the helpers' fork server only (`streams/helper_processes.py`), before the rest:
what it sets, every helper forked from it inherits."""

from __future__ import annotations

import warnings

# Each helper re-runs the program's main module as `__mp_main__` (multiprocessing does). Started
# as `python -m NAME`, NAME is in the server's modules already (so the re-run imports nothing),
# and runpy warns about that on every helper's stderr, harmlessly.
warnings.filterwarnings("ignore", message=r"'[\w.]+' found in sys\.modules after import of package",
                        category=RuntimeWarning)
