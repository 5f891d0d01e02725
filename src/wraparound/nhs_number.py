"""NHS numbers: the Modulus 11 check digit, and the range used for synthetic patients.

The check digit is computed by weighting the first nine digits 10..2, taking the sum modulo
11 and subtracting from 11; a result of 11 becomes 0 and a result of 10 means the number is
invalid (no such NHS number is ever issued).

Synthetic patients get numbers starting with 9. England and Wales issue NHS numbers from the
400 000 0000 - 499 999 9999 and 600 000 0000 - 799 999 9999 ranges (Scotland's CHI numbers
and Northern Ireland's H&C numbers sit below 400), so 9xx xxx xxxx numbers are never held by a
real patient; the familiar 999 test range is the best-known part of that block but holds under
a million valid numbers, too few for a region-sized synthetic population.
"""

from __future__ import annotations

import numpy as np

WEIGHTS = (10, 9, 8, 7, 6, 5, 4, 3, 2)
SYNTHETIC_PREFIX = "9"


def check_digit(first_nine: str) -> int | None:
    """The check digit for nine digits, or None if no valid number starts with them."""
    total = sum(int(d) * w for d, w in zip(first_nine, WEIGHTS, strict=True))
    check = 11 - total % 11
    if check == 11:
        return 0
    if check == 10:
        return None
    return check


def is_valid(value: str) -> bool:
    """True for a ten-digit string whose last digit is the right Modulus 11 check digit.

    Spaces are not accepted: callers normalise formatting before validating.
    """
    if len(value) != 10 or not value.isascii() or not value.isdigit():
        return False
    return check_digit(value[:9]) == int(value[9])


def synthetic_numbers(n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` distinct valid NHS numbers (as strings) from the never-issued 9xxxxxxxxx block."""
    bodies = np.empty(0, dtype=np.int64)
    while bodies.size < n:
        draw = rng.integers(900_000_000, 1_000_000_000, size=int(n * 1.25) + 64)
        digits = (draw[:, None] // 10 ** np.arange(8, -1, -1)) % 10
        check = 11 - (digits * np.array(WEIGHTS)).sum(axis=1) % 11
        check = np.where(check == 11, 0, check)
        ok = check != 10
        numbers = draw[ok] * 10 + check[ok]
        bodies = np.unique(np.concatenate([bodies, numbers]))
    chosen = rng.permutation(bodies)[:n]
    return chosen.astype(str)
