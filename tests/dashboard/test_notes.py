"""Event notes for people: parsing the reference's strings and JSON (no database)."""

from dashboard import notes
from tests.dashboard.conftest import SEED_FAILURE


def test_seed_failure_becomes_one_row_per_target():
    parsed = notes.parse_find_result_fail("find result to migrate: " + SEED_FAILURE)
    assert parsed.guest == "cpu-test-vm"
    assert [(r.target, r.current, r.score, r.limit, r.limit_value) for r in parsed.rows] == [
        ("test-69-onecloud01", "55.31%", "59.68%", "rule threshold", "≥ 60.00%"),
        ("a15", "62.31%", "59.68%", "rule threshold", "≥ 60.00%"),
    ]


def test_memory_failure_is_in_gib():
    text = (
        "not found target for guest big: [host:h2:current(21474836480.000000) - "
        "guest:big:score(17179869184.000000) <= threshold(8589934592.000000)]"
    )
    row = notes.parse_find_result_fail(text).rows[0]
    assert (row.current, row.score, row.limit_value) == ("20.00 GiB", "16.00 GiB", "≤ 8.00 GiB")


def test_other_limits_and_the_tail_of_a_long_list():
    text = (
        "not found target for guest g: [host:h1:mem.available(1073741824.000000) - guest:g:mem(2147483648.000000)"
        " <= floor(4294967296.000000), host:h2:bounce_back(guest:g left it 3.0 min ago < cooldown 30.0 min),"
        " ... and 7 more, ... gave up after 50 targets, 200 not tried]"
    )
    rows = notes.parse_find_result_fail(text).rows
    assert rows[0].limit == "memory floor" and rows[0].current == "1.00 GiB"
    assert rows[1].target == "h2" and rows[1].reason.startswith("bounce back: guest:g left it 3.0 min ago")
    assert [r.reason for r in rows[2:]] == ["... and 7 more", "... gave up after 50 targets, 200 not tried"]


def test_not_a_failure_note():
    assert notes.parse_find_result_fail("rule test-cpu created") is None


def test_failure_texts_found_where_the_evaluator_puts_them():
    assert notes.failure_texts("x") == ["x"]
    assert notes.failure_texts({"notes": "x", "host": "h"}) == ["x"]
    assert notes.failure_texts({"failures": [{"notes": "a"}, "b"]}) == ["a", "b"]
    assert notes.failure_texts({"id": 1}) == []


def test_reference_migration_note_is_guest_to_target_with_scores():
    moves = notes.parse_moves({
        "guest": {"host": "a15", "id": "a310", "name": "aisenzhe", "score": 10.769393333333335,
                  "vcpu_count": 8, "vmem_size": 8192},
        "target_host": {"id": "6fc1", "name": "test-66-onecloud02", "score": 22.65071999099409},
    })
    assert [(m.guest, m.source, m.target, m.guest_score, m.target_score) for m in moves] == [
        ("aisenzhe", "a15", "test-66-onecloud02", "10.77%", "22.65%")
    ]


def test_recommendation_lists_each_move_and_memory_scores_read_as_gib():
    moves = notes.parse_moves({"moves": [
        {"guest": {"name": "a", "host": "h1", "score": 8 * 1024**3},
         "target_host": {"name": "h2", "score": 64 * 1024**3}},
        {"guest": {"name": "b", "host": "h1", "score": 12.5}, "target_host": {"name": "h3", "score": 30.0}},
    ]})
    assert [(m.guest, m.target, m.guest_score) for m in moves] == [("a", "h2", "8.00 GiB"), ("b", "h3", "12.50%")]


def test_failed_migration_keeps_its_error():
    moves = notes.parse_moves({"guest": {"name": "a"}, "target_host": {"name": "h2"}, "error": "refused by compute"})
    assert moves[0].error == "refused by compute"


def test_rule_changes_and_plain_values():
    changes = notes.parse_changes({"changes": {"threshold": {"before": 60, "after": 70}}})
    assert changes == [("threshold", 60, 70)]
    assert notes.scalar_items({"id": 3, "res_name": "migrationalert", "rule": {"a": 1}}) == [("id", 3)]
