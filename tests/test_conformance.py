"""Every registered method honours the contract, through the public checks a plugin runs on its own
method (bench.testing, in the spirit of scikit-learn's parametrize_with_checks): it is registered under
its name, documents every parameter, builds from its defaults, its config rebuilds it, it gives one
finite score per sample, the same seed gives the same scores, and no score depends on a test label
(reverse them: nothing changes).

Small and fast on purpose: 16 real movie shots, 24 test samples, and each method's own
`test_parameters` (the fewest epochs it allows, the untrained tiny-random-llama for the LM methods);
icl `needs_chat_server`, so it talks to the project's real HTTP server on 127.0.0.1 serving that model.
The data, the server and each method's first fit are shared by the module's checks."""

from __future__ import annotations

import pytest

from bench.run import registry
from bench.testing import CheckSetup, parametrize_with_checks

BUILT_IN = [cls for name, cls in registry.available().items() if not name.startswith("test-")]


@pytest.fixture(scope="module")
def setup(data_dir, tmp_path_factory):
    with CheckSetup(data_dir=data_dir, tmp_path=tmp_path_factory.mktemp("conformance")) as shared:
        yield shared


def test_the_checks_reach_every_built_in_method():
    assert len(BUILT_IN) >= 15  # the entry points are installed (`pip install -e .`), so none is skipped


@parametrize_with_checks(BUILT_IN)
def test_every_method_honours_the_contract(method, check, setup):
    check(method, setup)
