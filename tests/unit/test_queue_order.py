"""queue/order.py: characters first, the other queues in turn, none of them starved."""

from __future__ import annotations

from collections import Counter

from hypothesis import given
from hypothesis import strategies as st

from killreport.queue.broker import QUEUE_NAMES
from killreport.queue.order import LEAVES, delivery_order

A, C, CH = QUEUE_NAMES["alliance"], QUEUE_NAMES["corporation"], QUEUE_NAMES["character"]
QUEUES = [A, C, CH]


def test_the_leaf_queue_is_the_characters() -> None:
    assert {CH} == LEAVES


def test_characters_come_first_and_each_other_queue_with_work_keeps_one_place() -> None:
    order = delivery_order({A: 5, C: 5, CH: 50}, QUEUES, LEAVES, 10)
    assert order == [CH] * 8 + [A, C]


def test_what_the_characters_leave_is_shared_in_turn() -> None:
    assert delivery_order({A: 3, C: 5, CH: 2}, QUEUES, LEAVES, 8) == [CH, CH, A, C, A, C, A, C]
    assert delivery_order({A: 3, C: 5, CH: 2}, [C, A, CH], LEAVES, 8) == [CH, CH, C, A, C, A, C, A]


def test_an_empty_queue_keeps_no_place() -> None:
    assert delivery_order({A: 0, C: 4, CH: 9}, QUEUES, LEAVES, 6) == [CH] * 5 + [C]


def test_less_room_than_queues_with_work_goes_to_the_others_in_turn() -> None:
    assert delivery_order({A: 3, C: 3, CH: 3}, QUEUES, LEAVES, 1) == [A]
    assert delivery_order({A: 3, C: 3, CH: 3}, [C, CH, A], LEAVES, 2) == [C, A]


@given(st.dictionaries(st.sampled_from(QUEUES), st.integers(0, 60)), st.permutations(QUEUES),
       st.integers(0, 80))
def test_any_fill_takes_what_it_can_and_no_more(ready: dict[str, int], turn: list[str], room: int) -> None:
    order = delivery_order(ready, turn, LEAVES, room)
    taken = Counter(order)
    assert len(order) == min(room, sum(ready.values()))
    assert all(taken[q] <= ready.get(q, 0) for q in QUEUES)
    others = [q for q in turn if q not in LEAVES and ready.get(q, 0) > 0]
    if room >= len(others):
        assert all(taken[q] >= 1 for q in others), "a queue with work got no place"
    if taken[CH] < ready.get(CH, 0):  # characters held back only for the others' places
        assert taken[CH] == max(0, room - len(others))
