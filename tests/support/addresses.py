"""An applicant's address as channels send it (a courier leg's sender or recipient)."""

ADDRESS = {"name": "王晓明", "phone": "13805511234", "province": "安徽", "city": "合肥市", "district": "包河区",
           "detail": "徽州大道1号 3栋201室"}
