"""Per-network buffers of pre-sampled allocations, refilled off the slot's critical path.

A time-sharing policy plays one allocation per slot drawn from a
distribution conditioned on the network's *large-scale* state (seed 004,
sec. 3). Drawing (100 DDIM steps, or thousands of primal-dual iterations)
is far slower than a slot, so each network (E2 node) gets a buffer of
allocations drawn in advance by one background thread:

* a slot pops the next allocation (O(1), no model call);
* when the buffer runs below ``refill_below``, a refill is queued;
* when the large-scale state changes (new ``topology_version`` or different
  gains / f_min), the buffer is dropped and refilled: allocations drawn for
  another network must never be played;
* with ``replay=True`` (time sharing as in the paper's evaluation, sec. 3.2:
  each slot plays one of the S candidates drawn for the state, uniformly),
  a slot *samples* a buffered allocation instead of popping it, and refills
  only grow the set up to ``capacity``: one finished draw serves every later
  slot of that state, so a large N whose draw takes longer than a slot still
  keeps up once its first draw is in;
* ``replay_pairs``: networks of that many pairs or more replay regardless
  (the ``diffusion`` policy's default from N = 100: a draw there takes
  seconds to minutes);
* the refill thread can run at a higher OS niceness (``niceness``), so its
  long draws yield the two cores to the slot loop and the node;
* a slot checks its buffer against the state by exact comparison of version,
  gains and f_min (``NetworkBuffer.holds``, ~0.06 ms at N = 400); the SHA-1
  digest is taken only when a new buffer is made;
* an empty or stale buffer raises :class:`rrm.models.policy.PolicyUnavailable`,
  which the xApp turns into a WMMSE fallback (``policy_unavailable``).

:meth:`SampleBuffers.close` cancels the draw in progress: samplers call
:meth:`SampleBuffers.check_open` between their steps, which raises
:class:`SamplingCancelled` once closing; the refill thread then ends and is
joined, so no torch work is left running when the interpreter exits (a
draw of a minute at N = 400 used to outlive ``close`` and abort the process
with "terminate called without an active exception").

Counters (``served``, ``empty``, ``stale``, ``refills``, ``sampling_s``)
say how often the buffer carried the slot.
"""

from __future__ import annotations

import hashlib
import os
import queue
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import structlog
from numpy.typing import NDArray

from rrm.models.policy import PolicyUnavailable

FloatArray = NDArray[np.float64]
# (large_scale [N, N], noise_w, pmax_w, f_min [N], count) -> power shares [count, N]
Sampler = Callable[[FloatArray, float, float, FloatArray, int], FloatArray]
log = structlog.get_logger("rrm.models.diffusion.buffer")


class SamplingCancelled(Exception):
    """A draw stopped between two of its steps because its buffer is closing."""


@dataclass(frozen=True)
class NetworkKey:
    """Identity of a large-scale state: topology version + digest of gains and f_min."""

    version: int
    digest: str

    @classmethod
    def of(cls, version: int, large_scale: FloatArray, f_min: FloatArray) -> NetworkKey:
        h = hashlib.sha1(np.ascontiguousarray(large_scale, dtype=np.float64).tobytes())
        h.update(np.ascontiguousarray(f_min, dtype=np.float64).tobytes())
        return cls(int(version), h.hexdigest())


@dataclass
class NetworkBuffer:
    """Allocations drawn for one large-scale state (``p / Pmax`` rows of length N)."""

    key: NetworkKey
    large_scale: FloatArray
    f_min: FloatArray
    noise_w: float
    pmax_w: float
    shares: deque[FloatArray] = field(default_factory=deque)

    def holds(self, version: int, large_scale: FloatArray, f_min: FloatArray) -> bool:
        """This buffer was drawn for this state: same version, gains and f_min, compared
        exactly (a memcmp-speed pass: 0.06 ms at N = 400 where the SHA-1 digest of
        ``NetworkKey.of`` takes ~1 ms, on every slot)."""
        return (self.key.version == int(version)
                and np.array_equal(self.large_scale, large_scale)
                and np.array_equal(self.f_min, f_min))


class SampleBuffers:
    """Buffers per node id and the background thread that fills them.

    Args:
        sampler: draws ``count`` allocations for one network.
        capacity: allocations kept per network.
        refill_below: queue a refill when fewer remain.
        batch: allocations drawn per refill.
        first_batch: allocations drawn when the buffer is empty (after a change
            of the large-scale state): a small draw ends the fallback sooner,
            since a sampling pass costs a fixed part plus a part per sample.
        replay: slots draw buffered allocations uniformly with replacement
            (time sharing over the candidate set) instead of consuming them.
        seed: seed of the replay draws.
        replay_pairs: networks of at least this many pairs replay even when
            ``replay`` is False (None: none): their draws take far longer than a slot.
        niceness: added to the refill thread's OS scheduling niceness (Linux: per
            thread), so a long draw (a minute at N = 400) yields the cores to the
            slot loop and the node; 0 leaves it as the process's.
    """

    def __init__(self, sampler: Sampler, capacity: int = 64, refill_below: int = 16,
                 batch: int = 32, first_batch: int = 4, replay: bool = False,
                 seed: int = 0, niceness: int = 0, replay_pairs: int | None = None) -> None:
        self.sampler, self.capacity, self.replay = sampler, capacity, replay
        self.replay_pairs = replay_pairs
        self.niceness = niceness
        self._rng = np.random.default_rng(seed)
        self.refill_below, self.batch = refill_below, batch
        self.first_batch = min(first_batch, batch)
        self.counters: Counter[str] = Counter()
        self.sampling_s = 0.0
        self._buffers: dict[str, NetworkBuffer] = {}
        self._lock = threading.Lock()
        self._pending: set[str] = set()
        self._requests: queue.Queue[str | None] = queue.Queue()
        self._closing = threading.Event()
        self._worker = threading.Thread(target=self._run, name="sample-refill", daemon=True)
        self._worker.start()

    def take(self, node: str, version: int, large_scale: FloatArray, f_min: FloatArray,
             noise_w: float, pmax_w: float) -> FloatArray:
        """The next allocation ``[N]`` (``p / Pmax``) for ``node``; raises PolicyUnavailable."""
        with self._lock:
            buf = self._buffers.get(node)
            if buf is None or not buf.holds(version, large_scale, f_min):
                reason = "cold" if buf is None else "stale"
                key = NetworkKey.of(version, large_scale, f_min)
                self._buffers[node] = NetworkBuffer(key, np.array(large_scale, dtype=np.float64),
                                                    np.array(f_min, dtype=np.float64),
                                                    noise_w, pmax_w)
                self.counters[reason] += 1
                self._request(node)
                raise PolicyUnavailable(f"sample buffer {reason}: large-scale state "
                                        f"v{version} not sampled yet; refilling")
            if not buf.shares:
                self.counters["empty"] += 1
                self._request(node)
                raise PolicyUnavailable("sample buffer empty; refilling")
            if self.replays(len(buf.f_min)):  # time sharing: the candidates stay, grow to capacity
                share = buf.shares[int(self._rng.integers(len(buf.shares)))]
                low = len(buf.shares) < self.capacity
            else:
                share = buf.shares.popleft()
                low = len(buf.shares) < self.refill_below
            if low:
                self._request(node)
            self.counters["served"] += 1
            return share

    def replays(self, pairs: int) -> bool:
        """Slots of a network of ``pairs`` pairs time-share its buffered draws (``replay``)."""
        return self.replay or (self.replay_pairs is not None and pairs >= self.replay_pairs)

    def available(self, node: str) -> int:
        """Allocations buffered for ``node``."""
        with self._lock:
            buf = self._buffers.get(node)
            return len(buf.shares) if buf else 0

    def wait_filled(self, node: str, count: int, timeout_s: float) -> bool:
        """Block until ``node`` has ``count`` allocations (tests, warm-up); False on timeout."""
        end = time.monotonic() + timeout_s
        while time.monotonic() < end:
            if self.available(node) >= count:
                return True
            time.sleep(0.005)
        return False

    def _request(self, node: str) -> None:  # caller holds the lock
        if node not in self._pending:
            self._pending.add(node)
            self._requests.put(node)

    def check_open(self) -> None:
        """Raise :class:`SamplingCancelled` once :meth:`close` was called (samplers' step hook)."""
        if self._closing.is_set():
            raise SamplingCancelled("sample buffer closing")

    def _run(self) -> None:
        lower_thread_priority(self.niceness)
        while (node := self._requests.get()) is not None and not self._closing.is_set():
            with self._lock:
                self._pending.discard(node)
                buf = self._buffers.get(node)
                if buf is None or len(buf.shares) >= self.capacity:
                    continue
                key, args = buf.key, (buf.large_scale, buf.noise_w, buf.pmax_w, buf.f_min)
                count = self.batch if buf.shares else self.first_batch
            t0 = time.perf_counter()
            try:
                drawn = self.sampler(args[0], args[1], args[2], args[3], count)
            except SamplingCancelled:
                return
            except Exception as err:  # a failed draw leaves the buffer empty: the xApp falls back
                log.error("sampling_failed", node=node, error=str(err)[:200])
                continue
            self.sampling_s += time.perf_counter() - t0
            with self._lock:
                cur = self._buffers.get(node)
                if cur is not None and cur.key == key:  # the state may have moved on meanwhile
                    room = self.capacity - len(cur.shares)
                    cur.shares.extend(np.asarray(drawn, dtype=np.float64)[:room])
                    self.counters["refills"] += 1
                    full = self.capacity if self.replays(len(cur.f_min)) else self.refill_below
                    if len(cur.shares) < full:
                        self._request(node)

    def close(self, timeout_s: float = 5.0) -> None:
        """Cancel the draw in progress and join the refill thread (up to ``timeout_s``)."""
        self._closing.set()
        self._requests.put(None)
        self._worker.join(timeout_s)
        if self._worker.is_alive():  # a sampler that never calls check_open
            log.warning("refill_thread_still_running", timeout_s=timeout_s)


def lower_thread_priority(niceness: int) -> None:
    """Add ``niceness`` to the calling thread's scheduling niceness (Linux: a thread is a
    task of its own); a no-op for 0, elsewhere, or where the OS refuses."""
    if niceness <= 0 or not hasattr(os, "setpriority"):
        return
    tid = threading.get_native_id()
    try:
        os.setpriority(os.PRIO_PROCESS, tid, min(os.getpriority(os.PRIO_PROCESS, tid) + niceness,
                                                 19))
    except OSError as err:
        log.warning("refill_priority_unchanged", error=str(err)[:200])
