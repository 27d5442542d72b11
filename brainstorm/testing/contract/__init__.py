"""Every contract test, and the fixtures they use: `from brainstorm.testing.contract import *`.

The importing module provides the `driver_url` fixture (see `brainstorm.testing`). Each module
covers one part of the contract; this one gathers their tests (and nothing else of theirs, so their
helpers' names never clash) with the fixtures of `fixtures`.
"""

from . import bad_input, copying, deletion, failures, maintenance, properties, results, series, snapshots, users
from .fixtures import INLINE_LIMITS, driver, populated, store

__all__ = ["INLINE_LIMITS", "driver", "populated", "store"]
for _module in (bad_input, copying, deletion, failures, maintenance, properties, results, series, snapshots, users):
    for _name, _test in vars(_module).items():
        if _name.startswith("test_"):
            globals()[_name] = _test
            __all__.append(_name)
