"""Event notes for people: parsing the reference's strings and JSON (no database)."""

from dashboard import notes
from tests.dashboard.conftest import GIB, SEED_FAILURE, seed_failure_notes


def rows(table):
    return [(r.target, r.current, r.score, r.limit, r.limit_value, r.reason) for r in table.rows]


def test_seed_failure_becomes_one_row_per_target_from_its_records():
    (table,) = notes.failure_tables(seed_failure_notes())
    assert table.guest == "cpu-test-vm"
    assert rows(table) == [
        ("test-69-onecloud01", "55.31%", "59.68%", "rule threshold", "≥ 60.00%", ""),
        ("a15", "62.31%", "59.68%", "rule threshold", "≥ 60.00%", ""),
    ]


def test_the_table_reads_the_records_not_the_text():
    # A note a regex would read as h-fake at 1 %; the records say h2 at 55 %.
    stored = {
        "guest": "g",
        "notes": "not found target for guest g: [host:h-fake:current(1.000000) + guest:g:score(2.000000)"
                 " >= threshold(3.000000)]",
        "rejections": [{"target": "h2", "limit": "threshold", "reason": "over_threshold", "guest": "g",
                        "current": 55.0, "score": 10.0, "limit_value": 60.0, "unit": "%"}],
    }
    (table,) = notes.failure_tables(stored)
    assert rows(table) == [("h2", "55.00%", "10.00%", "rule threshold", "≥ 60.00%", "")]


def test_memory_records_are_in_gib():
    stored = {"guest": "big", "rejections": [{"target": "h2", "limit": "threshold", "current": 20 * GIB,
                                              "score": 16 * GIB, "limit_value": 8 * GIB, "unit": "bytes"}]}
    (row,) = notes.failure_tables(stored)[0].rows
    assert (row.current, row.score, row.limit_value) == ("20.00 GiB", "16.00 GiB", "≤ 8.00 GiB")


def test_other_limits_and_the_tail_of_a_long_list():
    stored = {"guest": "g", "not_listed": 7, "not_tried": 200, "rejections": [
        {"target": "h1", "limit": "mem_floor", "current": GIB, "score": 2 * GIB, "limit_value": 4 * GIB,
         "unit": "bytes"},
        {"target": "h2", "limit": "bounce_back", "guest": "g", "current": 3.0, "limit_value": 60.0, "unit": "min"},
        {"target": "h3", "limit": "placement", "reason": "anti-affinity", "group": "db", "strength": "should",
         "detail": "db-2 already on h3"},
    ]}
    got = rows(notes.failure_tables(stored)[0])
    assert got[0] == ("h1", "1.00 GiB", "2.00 GiB", "memory floor", "≤ 4.00 GiB", "")
    assert got[1] == ("h2", "left 3.0 min ago (g)", "", "no-return window", "< 60.0 min", "")
    assert got[2] == ("h3", "", "", "placement group", "", "anti-affinity group db (should): db-2 already on h3")
    assert [r[5] for r in got[3:]] == ["... and 7 more", "... gave up after 10 targets, 200 not tried"]


def test_events_without_records_are_legacy_text():
    legacy = {"notes": SEED_FAILURE, "host": "h"}
    assert notes.failure_tables(legacy) == []
    assert notes.legacy_failure_texts(legacy) == [SEED_FAILURE]
    assert notes.legacy_failure_texts({"failures": ["a", {"x": 1}]}) == ["a"]
    assert notes.legacy_failure_texts(seed_failure_notes()) == []
    # A host-level failure has records but no refused target: no table.
    assert notes.failure_tables({"notes": "h1 still at 80%: no guest on the host", "rejections": []}) == []


def test_maintenance_events_list_their_failures_as_records():
    stored = {"failures": ["x"], "failure_records": [{**seed_failure_notes(), "guest": "cpu-test-vm"}]}
    assert [t.guest for t in notes.failure_tables(stored)] == ["cpu-test-vm"]


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
