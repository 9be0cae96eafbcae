"""Watching the configuration file for changes, Kubernetes ConfigMap style.

Kubernetes updates a mounted ConfigMap by writing a new timestamped folder
and swapping the ``..data`` symlink, so the watched path's inode never sees
a write and inotify-on-the-file misses it. This watcher polls the *resolved*
target (``os.path.realpath``) and its stat, so a symlink swap, an in-place
edit and an atomic rename are all noticed.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path

import structlog

log = structlog.get_logger("rrm.xapp.watch")


def _fingerprint(path: Path) -> tuple[str, int, int, int] | None:
    try:
        real = os.path.realpath(path)
        st = os.stat(real)
    except OSError:
        return None
    return real, st.st_ino, st.st_mtime_ns, st.st_size


class ConfigWatcher:
    """Calls ``on_change(path)`` whenever the file behind ``path`` changes.

    Args:
        path: the configuration file (possibly a symlink into ``..data``).
        on_change: callback run on the watcher thread; exceptions are logged.
        interval_s: polling period.
    """

    def __init__(self, path: str | Path, on_change: Callable[[Path], None],
                 interval_s: float = 1.0) -> None:
        self.path = Path(path)
        self.on_change = on_change
        self.interval_s = interval_s
        self._seen = _fingerprint(self.path)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="config-watch", daemon=True)

    def start(self) -> ConfigWatcher:
        """Begin polling in a daemon thread."""
        self._thread.start()
        return self

    def poll(self) -> bool:
        """Check once; returns True (and calls back) when the file changed."""
        now = _fingerprint(self.path)
        if now == self._seen or now is None:
            return False
        self._seen = now
        try:
            self.on_change(self.path)
        except Exception as err:  # a bad new config must not kill the watcher
            log.error("config_reload_failed", path=str(self.path), error=str(err))
        return True

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.poll()

    def stop(self) -> None:
        """Stop polling."""
        self._stop.set()
