"""Typing names newer than Python 3.10, for type checkers only.

Import from here under ``if TYPE_CHECKING:`` only: on Python 3.10 they come from
``typing_extensions``, which is not a runtime dependency of this package.
"""

import sys

if sys.version_info >= (3, 11):
    from typing import Unpack
else:
    from typing_extensions import Unpack

__all__ = ["Unpack"]
