import pytest

from automigrate.units import format_period, format_size, parse_period, parse_size


@pytest.mark.parametrize(("text", "seconds"), [("30s", 30), ("2m", 120), ("1h", 3600), ("10", 10), (90, 90)])
def test_it_parses_periods(text, seconds):
    assert parse_period(text) == seconds


@pytest.mark.parametrize("text", ["5x", "", "m", "-2m", "1.5s"])
def test_it_refuses_malformed_periods(text):
    with pytest.raises(ValueError, match=r"period|whole number"):
        parse_period(text)


def test_it_refuses_periods_under_ten_seconds():
    with pytest.raises(ValueError, match="minimum period of 10s"):
        parse_period("5s")


@pytest.mark.parametrize(("text", "size"), [("8G", 8 * 1024**3), ("512M", 512 * 1024**2), ("1024", 1024),
                                            ("1.5g", 1.5 * 1024**3), ("2GiB", 2 * 1024**3)])
def test_it_parses_sizes(text, size):
    assert parse_size(text) == size


def test_it_refuses_malformed_sizes():
    with pytest.raises(ValueError, match="not a size"):
        parse_size("eight gigs")


def test_it_formats_round_trip():
    assert format_period(parse_period("2m")) == "2m"
    assert format_period(45) == "45s"
    assert format_size(parse_size("8G")) == "8G"


@pytest.mark.parametrize("text", ["2d", "86401", "99999999999999d", 1e20, float("inf"), "9" * 400])
def test_it_refuses_periods_over_a_day_in_one_line(text):
    with pytest.raises(ValueError, match="is too long: at most 1d") as error:
        parse_period(text)
    assert len(str(error.value)) < 80


def test_a_day_is_the_longest_period_unless_the_caller_allows_more():
    assert parse_period("1d") == 86400
    assert parse_period("31d", maximum=31 * 86400) == 31 * 86400
    with pytest.raises(ValueError, match="at most 31d"):
        parse_period("32d", maximum=31 * 86400)


def test_nan_is_not_a_period():
    with pytest.raises(ValueError, match="is not a period"):
        parse_period(float("nan"))
