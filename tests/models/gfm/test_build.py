"""Building GFM-RA models from named choices (what ``rrm gfm`` calls)."""

import pytest

from rrm.core.errors import InvalidInput
from rrm.models.gfm.backbone import PRESETS
from rrm.models.gfm.build import backbone_config, power_model
from rrm.models.gfm.pcgnn import PCGNN


def test_backbone_config_applies_only_the_given_overrides():
    cfg = backbone_config("small", layers=1, dim=None, heads=2)
    assert (cfg.layers, cfg.heads, cfg.dim) == (1, 2, PRESETS["small"].dim)


def test_an_impossible_backbone_config_is_a_one_line_input_error():
    with pytest.raises(InvalidInput, match="divisible"):
        backbone_config("small", dim=10, heads=3)


def test_power_model_builds_each_architecture():
    gfm = power_model("gfm", edge_value_dim=2, switchable=True)
    assert gfm.backbone.cfg.edge_value_dim == 2
    assert isinstance(power_model("pcgnn").backbone, PCGNN)
    with pytest.raises(InvalidInput, match="unknown architecture"):
        power_model("mlp")
