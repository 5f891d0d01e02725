"""The Modulus 11 check digit: every valid number validates, any one-digit change is caught."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from wraparound.nhs_number import check_digit, is_valid, synthetic_numbers

bodies = st.text(alphabet="0123456789", min_size=9, max_size=9)
valid_numbers = bodies.filter(lambda b: check_digit(b) is not None).map(
    lambda b: b + str(check_digit(b))
)


@given(valid_numbers)
def test_a_number_with_its_check_digit_is_valid(number):
    assert is_valid(number)


@given(valid_numbers, st.integers(0, 9), st.integers(1, 9))
def test_any_single_digit_change_is_rejected(number, position, shift):
    digit = (int(number[position]) + shift) % 10
    changed = number[:position] + str(digit) + number[position + 1 :]
    assert changed != number
    assert not is_valid(changed)


@given(bodies.filter(lambda b: check_digit(b) is None))
def test_bodies_whose_check_would_be_ten_have_no_valid_number(body):
    assert not any(is_valid(body + str(d)) for d in range(10))


@given(st.text(max_size=12).filter(lambda s: not (len(s) == 10 and s.isdigit() and s.isascii())))
def test_anything_but_ten_ascii_digits_is_invalid(value):
    assert not is_valid(value)


def test_known_numbers():
    assert is_valid("9434765919") and is_valid("4010232137")
    assert not is_valid("9434765918")
    assert not is_valid("943 476 5919")  # callers remove spaces first


def test_synthetic_numbers_are_valid_and_distinct():
    numbers = synthetic_numbers(500, np.random.default_rng(3))
    assert len(set(numbers)) == 500
    assert all(is_valid(n) and n.startswith("9") for n in numbers)
