"""`set_cpu_threads`: the size of JAX's CPU runtime pool, set before the backend exists.

The pool's threads are visible to the operating system (``tf_XLAEigen``), so the tests
count them; and a fit's draws must not depend on how many threads ran it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import pytyche
from pytyche.inference.cpu_threads import ENV_VAR, cpu_threads, set_cpu_threads

HERE = Path(__file__).resolve().parent

COUNT_POOL = """
import collections, os
import pytyche
from pytyche.inference.cpu_threads import set_cpu_threads
set_cpu_threads({threads})
import jax
jax.numpy.ones(3).block_until_ready()
tasks = os.listdir("/proc/self/task")
names = collections.Counter(open(f"/proc/self/task/{{t}}/comm").read().strip() for t in tasks)
print(names["tf_XLAEigen"], os.environ.get("PJRT_NPROC"), pytyche.check_setup().cpu_threads)
set_cpu_threads({threads})  # the size in force: nothing to do
try:
    set_cpu_threads({threads} + 1)
except RuntimeError as error:
    print("refused:", error)
"""

FIT_DRAWS = """
import sys
sys.path.insert(0, {here!r})
import numpy as np
import pytyche
from bcf_synthetic import hurdle_experiment
pytyche.set_cpu_threads({threads})
config = pytyche.BCFConfig(
    num_mu_trees=8, num_tau_trees=4, max_depth=4, num_warmup=4, num_draws=4
)
posterior = pytyche.fit(hurdle_experiment(seed=5, n=30_000).data, config=config, seed=1)
np.save(sys.argv[1], np.asarray(posterior.fit))
"""


def _run(script: str, *args: str) -> str:
    env = {key: value for key, value in os.environ.items() if key != ENV_VAR}
    out = subprocess.run(
        [sys.executable, "-c", script, *args], env=env, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    return out.stdout


@pytest.mark.parametrize("threads", [0, -1, 1.5, True, "2"])
def test_bad_thread_counts_are_refused(threads):
    with pytest.raises(ValueError, match="threads must be a positive integer"):
        set_cpu_threads(threads)


def test_requested_count_is_read_from_the_environment(monkeypatch):
    monkeypatch.delenv(ENV_VAR, raising=False)
    assert cpu_threads() is None
    monkeypatch.setenv(ENV_VAR, "3")
    assert cpu_threads() == 3
    monkeypatch.setenv(ENV_VAR, "many")
    assert cpu_threads() is None


def test_public_entry_point():
    assert pytyche.set_cpu_threads is set_cpu_threads


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="counts Linux threads")
@pytest.mark.parametrize("threads", [1, 3])
def test_pool_has_the_requested_threads_and_cannot_be_resized(threads):
    lines = _run(COUNT_POOL.format(threads=threads)).splitlines()
    assert lines[0] == f"{threads} {threads} {threads}"
    assert lines[1].startswith("refused: set_cpu_threads must be called before")
    assert f"{ENV_VAR}={threads + 1}" in lines[1]


def test_fit_draws_do_not_depend_on_the_thread_count(tmp_path):
    draws = []
    for threads in (1, 2):
        path = tmp_path / f"fit_{threads}.npy"
        _run(FIT_DRAWS.format(here=str(HERE), threads=threads), str(path))
        draws.append(np.load(path))
    assert draws[0].shape == (1, 4, 2, 30_000, 3)
    np.testing.assert_array_equal(draws[0], draws[1])
