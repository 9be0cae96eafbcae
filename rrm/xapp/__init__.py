"""The rrm xApp: transports, slot loop, guards, fallback, metrics, health, CLI."""

import os

# A slot-loop process decides on small matrices within milliseconds: multi-threaded
# BLAS only spins on the other core (measured: deadline misses fell from 162 to 20 in
# 300 slots of the ZeroMQ demo on 2 cores). Set before numpy is first imported;
# an explicit OPENBLAS_NUM_THREADS in the environment wins.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
