"""Shared test set-up."""
import pytest
from mmengine.registry import DefaultScope


@pytest.fixture(autouse=True)
def _default_scope_per_test():
    """Each test starts in the simsiam_mm scope and leaves no scope behind.

    mmengine's default scope is process-global: a test that builds an mmdet
    config would otherwise leave 'mmdet' current for the tests after it.
    """
    with DefaultScope.overwrite_default_scope('simsiam_mm'):
        yield


@pytest.fixture
def one_thread():
    """One torch thread: on two shared cores, two threads are slower
    (use with ``pytestmark = pytest.mark.usefixtures('one_thread')``)."""
    import torch
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
