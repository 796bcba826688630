"""Shared set-up for the classic-toolkit tests."""

import pytest
from threadpoolctl import threadpool_limits


@pytest.fixture(autouse=True, scope="package")
def _single_threaded_native_pools():
    # The gradient-boosting meta-learners use OpenMP; on a shared 2-core CI box its spinning
    # worker threads slow small fits down by an order of magnitude. One thread is fastest.
    with threadpool_limits(limits=1):
        yield
