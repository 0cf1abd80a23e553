"""The forward position machine on tiny hand-written inputs with hand-checked positions."""

from __future__ import annotations

import numpy as np

from mltrainer.models.base import EXIT_MAX_HOLDING, EXIT_SIGNAL, EXIT_STOP, hold_positions

F, T = False, True


def test_entry_held_until_the_exit_condition_and_flat_on_the_exit_bar():
    entry = np.array([0, 1, 1, 0, 0, 1, 0])
    exit_long = np.array([F, F, F, F, T, T, F])
    position, reason = hold_positions(entry, exit_long, np.zeros(7, bool), max_holding=10)
    # Enters at bar 1; the entry at bar 2 is ignored (already long); exits at bar 4; the entry at bar 5
    # comes with an exit condition, which is not checked on the entry bar itself.
    assert position.tolist() == [0, 1, 1, 1, 0, 1, 1]
    assert reason.tolist() == [0, 0, 0, 0, EXIT_SIGNAL, 0, 0]


def test_max_holding_caps_the_run_and_allows_a_new_entry_on_the_next_bar():
    entry = np.array([-1, -1, -1, -1, -1, -1])
    position, reason = hold_positions(entry, np.zeros(6, bool), np.zeros(6, bool), max_holding=2)
    assert position.tolist() == [-1, -1, 0, -1, -1, 0]
    assert reason.tolist() == [0, 0, EXIT_MAX_HOLDING, 0, 0, EXIT_MAX_HOLDING]


def test_price_stop_is_fixed_at_entry_and_hit_on_the_close():
    close = np.array([100.0, 101.0, 99.0, 97.9, 120.0, 100.0, 103.0])
    distance = np.array([2.0, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0])
    entry = np.array([1, 0, 0, 0, -1, 0, 0])
    never = np.zeros(7, bool)
    position, reason = hold_positions(entry, never, never, 50, close=close, stop_distance=distance)
    # Long at 100 with the stop at 98: 99 holds, 97.9 stops out (flat that bar). Short at 120, stop 122:
    # the later closes stay below it.
    assert position.tolist() == [1, 1, 1, 0, -1, -1, -1]
    assert reason.tolist() == [0, 0, 0, EXIT_STOP, 0, 0, 0]


def test_no_entry_without_a_stop_distance_and_condition_stops():
    close = np.array([10.0, 10.0, 10.0])
    position, _ = hold_positions(np.array([1, 0, 0]), np.zeros(3, bool), np.zeros(3, bool), 5,
                                 close=close, stop_distance=np.array([np.nan, 1.0, 1.0]))
    assert position.tolist() == [0, 0, 0]
    position, reason = hold_positions(np.array([-1, 0, 0]), np.zeros(3, bool), np.zeros(3, bool), 5,
                                      stop_long=np.zeros(3, bool), stop_short=np.array([F, F, T]))
    assert position.tolist() == [-1, -1, 0] and reason[2] == EXIT_STOP
