"""``Instrument.round_price`` against first-principles decimal arithmetic, and against the
rounding it replaced (the float product rounded to one decimal past the tick's), which it
matches wherever that one was exact."""

from __future__ import annotations

import math
import random
from decimal import ROUND_HALF_EVEN, Decimal

import pytest

from engine.model import Instrument, InstrumentKind, step_fraction

EXACT_UNITS = 2**47  # below: the product is within 1/32 unit of the grid value

TICKS = (0.5, 0.1, 0.01, 0.05, 0.25, 0.0001, 0.0005, 2.5e-07, 1e-08, 5e-05, 1.0, 5.0, 25.0,
         1e6, 12345.678, 1e-12, 3e-15, 1e-20, 0.3, 0.123)


def _inst(tick: float) -> Instrument:
    return Instrument(venue="v", symbol="X", kind=InstrumentKind.PERPETUAL, base="BTC",
                      quote="USD", settle="USD", tick_size=tick, lot_size=1.0)


def _decimals(step: float) -> int:
    """Decimals of the step's repr, as the former rounding counted them (10.0 -> 1)."""
    text = repr(step)
    if "e-" in text:
        mant, exp = text.split("e-")
        return int(exp) + (len(mant.split(".")[1]) if "." in mant else 0)
    return len(text.split(".")[1]) if "." in text else 0


def _product_rounded(price: float, tick: float) -> float:
    """The former rounding (still the one of a tick that is not a positive finite number)."""
    value = round(price / tick) * tick
    return round(value, _decimals(tick) + 1) if tick > 0 else value


def _prices(rng: random.Random, tick: float, n: int) -> list[float]:
    out = []
    for i in range(n):
        k = rng.randrange(-10**7, 10**7)
        mode = i % 4
        if mode == 0:  # on the decimal grid, as a user writes it
            out.append(float(k * Decimal(repr(tick))))
        elif mode == 1:  # anywhere between ticks, both signs
            out.append((k + rng.random()) * tick)
        elif mode == 2:  # close to half a tick off the grid
            out.append((k + 0.5 + rng.uniform(-1e-3, 1e-3)) * tick)
        else:  # any magnitude
            out.append(rng.uniform(-1.0, 1.0) * 10 ** rng.uniform(-3, 15) * tick)
    return out


@pytest.mark.parametrize("tick", TICKS)
def test_round_price_is_the_float_nearest_to_the_nearest_decimal_tick(tick: float) -> None:
    inst, rng, step = _inst(tick), random.Random(tick), Decimal(repr(tick))
    checked = 0
    for price in _prices(rng, tick, 4000):
        q = Decimal(price) / step  # exact binary price over the decimal tick
        k = q.to_integral_value(rounding=ROUND_HALF_EVEN)
        if abs(abs(q - k) - Decimal("0.5")) < max(Decimal("1e-9"), abs(q) * Decimal(2) ** -46):
            continue  # a tie up to the float division's rounding: either neighbour is nearest
        expected = float(k * step)
        got = inst.round_price(price)
        assert got == expected, (tick, price, got, expected)
        assert inst.round_price(got) == got
        assert inst.is_on_tick(got) or abs(k) > 10**9  # (its 1e-6 of a tick: below float precision)
        checked += 1
    assert checked > 3000


def test_round_price_cleans_the_float_product_and_rounds_ties_to_even() -> None:
    assert 3 * 0.1 != 0.3 and _inst(0.1).round_price(0.31) == 0.3
    assert _inst(0.01).round_price(1.005 + 1e-9) == 1.01 and _inst(0.05).round_price(-0.074) == -0.05
    assert [_inst(0.5).round_price(p) for p in (0.25, 0.75, -0.25, -0.75)] == [0.0, 1.0, 0.0, -1.0]
    assert _inst(2.5e-07).round_price(1.23456e-06) == 1.25e-06
    assert _inst(1e6).round_price(2_345_678.9) == 2_000_000.0
    assert _inst(1e-20).round_price(3.14159e-19) == 3.1e-19


@pytest.mark.parametrize("tick", TICKS + (1e-23, 1e-30, 1e16, 1e22, 0.1 + 0.2, 1 / 3))
def test_round_price_matches_the_product_rounding_wherever_that_was_exact(tick: float) -> None:
    # below 2**47 units of the tick's last decimal the float product ticks x tick is within
    # units x 2**-52 < 1/32 unit of the grid value, so rounding it to the next decimal was exact
    inst, rng = _inst(tick), random.Random(repr(tick))
    units = round(tick * 10 ** _decimals(tick))
    top = max(EXACT_UNITS // units, 1)
    for _ in range(3000):
        k = rng.randrange(-top, top)
        for price in (k * tick, (k + rng.random()) * tick, rng.uniform(-1, 1) * 10 ** rng.uniform(-30, 0) * top * tick):
            got, expected = inst.round_price(price), _product_rounded(price, tick)
            assert got == expected, (tick, price, got, expected)


def test_round_price_stays_exact_where_the_product_rounding_was_not() -> None:
    # 6.3e12 on a 12345.678 tick: the product is 1.3 units of the 4th decimal off the grid
    price, tick = 6326646384897.006, 12345.678
    exact = float(Decimal(round(price / tick)) * Decimal("12345.678"))
    assert _inst(tick).round_price(price) == exact == 6326646382449.522
    assert _product_rounded(price, tick) != exact


@pytest.mark.parametrize("tick", (-0.5, -0.1, math.inf))
def test_a_tick_that_is_not_a_positive_number_keeps_the_product(tick: float) -> None:
    inst = _inst(tick)
    for price in (0.3, -7.7, 1e9, 0.0):
        got, expected = inst.round_price(price), _product_rounded(price, tick)
        assert got == expected or (got != got and expected != expected), (tick, price)


def test_round_price_refuses_what_it_cannot_round() -> None:
    with pytest.raises(ValueError):
        _inst(0.5).round_price(math.nan)
    with pytest.raises(OverflowError):
        _inst(0.5).round_price(math.inf)
    with pytest.raises(ZeroDivisionError):
        _inst(0.0).round_price(1.0)


@pytest.mark.parametrize("step", TICKS + (10.0, 1e16, 2.5e22, 1.5e-05, 0.1 + 0.2, 1 / 3, 5e-324))
def test_step_fraction_is_the_exact_decimal_of_the_steps_repr(step: float) -> None:
    frac = step_fraction(step)
    assert frac is not None
    units, places = frac
    assert places >= 0 and Decimal(units).scaleb(-places) == Decimal(repr(step))
    assert places == 0 or units % 10 != 0  # the shortest form: no trailing zero
    assert units / 10**places == step  # (int / int: correctly rounded, reads back the step)


def test_step_fraction_of_a_step_with_no_decimal_grid_is_none() -> None:
    assert [step_fraction(s) for s in (0.0, -0.5, math.inf, -math.inf, math.nan)] == [None] * 5
    assert step_fraction(0.25) == (25, 2) and step_fraction(10.0) == (10, 0)
    assert step_fraction(1e-08) == (1, 8) and step_fraction(2e16) == (2 * 10**16, 0)
