"""Cell-free downlink with fronthaul limits (EGAT paper, seed 002): baselines and the EGAT model.

=================  ===========================================================
module             holds
=================  ===========================================================
``batch``          a cell-free state as ``n`` instances; per-AP power scaling
``fronthaul``      the heuristic fronthaul scaling of sec. V-A
``fczf``           ``fc-zf``: full connection, zero-forcing, power scaling
``wmmse``          MISO WMMSE under per-AP power (block coordinate descent)
``pcwmmse``        ``pc-wmmse``: WMMSE, then weakest-UE disconnection
``aosca``          ``ao-sca``: Algorithm 1 (sub-problems in ``aosca_problems``)
``egat_layers``    node and edge attention (eqs. 17-26)
``egat``           features, the EGAT model, post-processing (eqs. 27, 35-37)
``dnn``            the fully connected ablation
``train``          Algorithm 2: primal-dual + REINFORCE, validation
``store``          checkpoints; ``egat_policy``: the ``egat`` policy
``evaluate``       scoring policies for ``rrm egat eval``
=================  ===========================================================
"""
