"""Imports every cell-free policy module so that their ``@register_policy`` run."""

from models.cellfree import aosca, fczf, pcwmmse  # noqa: F401
