"""``Unpack`` on every supported Python, for ``**kwargs: Unpack[SomeTypedDict]``.

Python 3.11+ has it in ``typing``. On 3.10 it comes from ``typing_extensions`` when that
is installed (aiohttp installs it there); otherwise a stand-in that only lets
``typing.get_type_hints()`` resolve the annotations. Type checkers always see the real one.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

__all__ = ["Unpack"]

if TYPE_CHECKING or sys.version_info >= (3, 11):
    if sys.version_info >= (3, 11):
        from typing import Unpack
    else:
        from typing_extensions import Unpack
else:  # pragma: no cover - Python 3.10
    try:
        from typing_extensions import Unpack
    except ImportError:

        class _UnpackStandIn:
            def __getitem__(self, item: Any) -> Any:
                return item

        Unpack = _UnpackStandIn()
