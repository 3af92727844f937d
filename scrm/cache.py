"""A file cache whose counters hold across processes, for the embedded default (no Redis).

Django's FileBasedCache works across processes but its ``add`` (check, then write) and ``incr``
(read, then write) race: two processes can both add, or both read 3 and write 4. Here both run
under an exclusive lock on one lock file in the cache folder (django.core.files.locks: flock on
POSIX, LockFileEx on Windows), and ``incr`` keeps the entry's expiry, as Redis INCR does. The
lock is held for a few file operations, so one lock per cache is enough for sign-in counters.
With REDIS_URL set, settings use Redis instead, where INCR and SET NX are atomic already.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import time
import zlib

from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django.core.cache.backends.filebased import FileBasedCache
from django.core.files import locks


class LockingFileBasedCache(FileBasedCache):
    """FileBasedCache with ``add`` and ``incr`` atomic across processes."""

    lock_name = "cache.lock"

    @contextlib.contextmanager
    def _locked(self):
        self._createdir()
        with open(os.path.join(self._dir, self.lock_name), "a+b") as lock_file:
            locks.lock(lock_file, locks.LOCK_EX)
            try:
                yield
            finally:
                locks.unlock(lock_file)

    def add(self, key, value, timeout=DEFAULT_TIMEOUT, version=None):
        with self._locked():
            return super().add(key, value, timeout, version)

    def incr(self, key, delta=1, version=None):
        with self._locked():
            fname = self._key_to_file(key, version)
            try:
                with open(fname, "rb") as f:
                    expiry = pickle.load(f)
                    value = pickle.loads(zlib.decompress(f.read()))
            except FileNotFoundError:
                expiry, value = 0, None
            now = time.time()
            if value is None or (expiry is not None and expiry < now):
                raise ValueError(f"Key '{key}' not found")
            value += delta
            # The remaining lifetime: an increment never extends the counter's window.
            timeout = None if expiry is None else max(expiry - now, 0.001)
            self.set(key, value, timeout, version)
            return value

    def delete(self, key, version=None):
        with self._locked():
            return super().delete(key, version)
