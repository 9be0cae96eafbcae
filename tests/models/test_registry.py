"""The policy registry: a static name -> "module:factory" map, imported on first use."""

import pytest

from rrm.core.errors import UnknownName
from rrm.models import registry
from rrm.models.classical import FullReusePolicy
from rrm.models.policy import make_policy, policy_names


@pytest.mark.parametrize("name", sorted(registry.POLICIES))
def test_every_built_in_name_resolves_to_a_factory(name):
    assert callable(registry.policy_factory(name))


def test_names_are_sorted_and_listed_without_importing_policies():
    assert policy_names() == sorted(registry.POLICIES)


def test_made_policies_carry_their_registered_name():
    assert make_policy("wmmse").name == "wmmse"
    assert make_policy("fc-zf").name == "fc-zf"


def test_an_unknown_name_is_a_one_line_error_listing_the_choices():
    with pytest.raises(UnknownName, match=r"unknown policy 'magic'; available: .*wmmse"):
        make_policy("magic")


def test_a_plug_in_registers_a_new_name_but_cannot_shadow_a_built_in(monkeypatch):
    monkeypatch.setattr(registry, "_PLUGINS", {})

    @registry.register_policy("mine")
    def mine(*, name: str, scale: float = 1.0):
        return FullReusePolicy(name=name)

    assert "mine" in policy_names() and make_policy("mine").name == "mine"
    with pytest.raises(ValueError, match="built in"):
        registry.register_policy("wmmse")(mine)
