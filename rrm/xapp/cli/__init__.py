"""The xApp's commands: ``rrm xapp run``, ``rrm trace ...`` and ``rrm demo``.

The ``rrm`` dispatcher (:mod:`rrm.cli`) imports one of these modules when its
command is chosen; the model families' commands live next to their code.
"""
