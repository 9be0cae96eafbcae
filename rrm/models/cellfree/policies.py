"""Imports every cell-free policy module so that their ``@register_policy`` run."""

from rrm.models.cellfree import aosca, egat_policy, fczf, pcwmmse  # noqa: F401
