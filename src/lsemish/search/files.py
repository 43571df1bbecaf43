"""Files a run folder keeps whole: a stopped loop ends its process at once (search.children), perhaps while a
thread writes, and a file cut there would be read back as an agent's answer or a run's state on resume."""
from __future__ import annotations

import os
import threading


def write_whole(path, text, **open_kwargs):
    """path holds `text` whole, or what it held before: written beside it, then renamed over it."""
    tmp = f"{path}.{os.getpid()}.{threading.get_ident()}.tmp"
    with open(tmp, "w", **open_kwargs) as fh:
        fh.write(text)
    os.replace(tmp, path)
