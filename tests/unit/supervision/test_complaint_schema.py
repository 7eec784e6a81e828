"""A complaint is answered by its schema alone (no hand-written view): Beijing times, the masked filer."""
from datetime import datetime, timezone

from store.models.supervision import CaseSatisfaction, Complaint
from routes.api.supervision import ComplaintSchema, RatingSchema, complaint_view


def test_a_complaint_dumps_as_the_api_answered_it():
    c = Complaint(id="c-1", case_id="CASE-1", status="replied", text="慢", filer_masked="3401**********0213",
                  assignee="sup01", reply="已处理", replied_at=datetime(2026, 3, 2, 2, 0, tzinfo=timezone.utc),
                  closed_at=None, created_at=datetime(2026, 3, 1, 16, 30, tzinfo=timezone.utc),
                  history=[{"action": "reply"}])
    expected = {"id": "c-1", "case_id": "CASE-1", "status": "replied", "text": "慢", "filer": "3401**********0213",
                "assignee": "sup01", "reply": "已处理", "replied_at": "2026-03-02T10:00:00+08:00", "closed_at": None,
                "created_at": "2026-03-02T00:30:00+08:00", "history": [{"action": "reply"}]}
    assert ComplaintSchema().dump(c) == expected and complaint_view(c) == expected


def test_a_rating_dumps_its_time_in_beijing():
    row = CaseSatisfaction(case_id="CASE-1", rating=5, comment=None, rated_at=datetime(2026, 3, 1, 16, 0, tzinfo=timezone.utc))
    assert RatingSchema().dump(row) == {"rating": 5, "comment": None, "rated_at": "2026-03-02T00:00:00+08:00"}
