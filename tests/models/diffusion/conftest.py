"""One intra-op thread: these tests run small tensors, where thread hand-offs cost more than
they save (and the machine's 2 cores are shared)."""

import pytest
import torch


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
