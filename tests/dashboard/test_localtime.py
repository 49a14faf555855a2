"""Times from the API (UTC with an offset) shown in the viewer's zone."""
from dashboard.localtime import local_time
from dashboard.runs_view import table_rows


def test_an_utc_instant_is_shown_in_the_viewers_zone():
    # 12:52 UTC is 13:52 in Berlin in winter (CET, UTC+1) and 08:52 in New York in summer (EDT).
    assert local_time("2026-12-04T12:52:10.399963+00:00", "Europe/Berlin") == "2026-12-04 13:52:10 CET"
    assert local_time("2026-06-04T12:52:10Z", "America/New_York") == "2026-06-04 08:52:10 EDT"


def test_without_a_known_zone_times_stay_utc_and_say_so():
    assert local_time("2026-12-04T12:52:10+00:00", None) == "2026-12-04 12:52:10 UTC"
    assert local_time("2026-12-04T12:52:10+00:00", "Not/AZone") == "2026-12-04 12:52:10 UTC"
    assert local_time(None, "Europe/Berlin") == ""


def test_table_rows_use_the_viewers_zone():
    run = {"id": 1, "name": "r", "status": "queued", "config": {}, "summary": {},
           "created_at": "2026-12-04T23:30:00+00:00"}
    assert table_rows([run], [], [], "Asia/Tokyo")[0]["created"] == "2026-12-05 08:30:00 JST"
