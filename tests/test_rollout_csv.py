"""CSV import: parsing, file-level refusals with exact messages, per-row errors, the plan it feeds."""

from __future__ import annotations

import pytest

from lib.rollout import CsvImportError, parse_users_csv, plan_from_csv
from lib.rollout.csv_import import MAX_ROWS
from tests.test_rollout_support import Admin, user, users

FRAME = users(user(1), user(2, state="enabled"), user(3, registered=True),
              user(4, upn="Guest_x.com#EXT#@contoso.onmicrosoft.com"))
SAVE = 'save it as "CSV UTF-8 (Comma delimited) (*.csv)" (Excel: File → Save As)'


def parsed(text: str | bytes, **kw: object):
    return parse_users_csv(text.encode("utf-8") if isinstance(text, str) else text, FRAME, **kw)


def refused(data: bytes | str, **kw: object) -> tuple[str, str]:
    with pytest.raises(CsvImportError) as raised:
        parse_users_csv(data, FRAME, **kw)
    return raised.value.code, raised.value.message


@pytest.mark.parametrize("header", ["UserPrincipalName", "upn", "UPN", "User principal name", "user_principal_name",
                                    "Email", "E-mail address", "Sign-in name"])
def test_header_spellings(header: str) -> None:
    result = parsed(f"{header}\r\nuser1@contoso.example\r\nUSER3@Contoso.Example\r\n", default_state="enforced")
    assert result.has_header and result.ok
    assert result.targets == {"u001": "enforced", "u003": "enforced"}
    assert [(r.line, r.upn) for r in result.rows] == [(2, "user1@contoso.example"), (3, "USER3@Contoso.Example")]


def test_no_header_with_state_column_and_blank_lines() -> None:
    result = parsed("user1@contoso.example,Enforced\n\n  user2@contoso.example , disabled \n"
                    "Guest_x.com#EXT#@contoso.onmicrosoft.com,\n", default_state="enabled")
    assert not result.has_header and result.data_rows == 3
    assert result.targets == {"u001": "enforced", "u002": "disabled", "u004": "enabled"}


def test_state_header_variants_and_extra_columns() -> None:
    result = parsed("Name,UserPrincipalName,Desired state\nUser 1,user1@contoso.example,enabled\n"
                    "User 2,user2@contoso.example,ENFORCED\n")
    assert result.targets == {"u001": "enabled", "u002": "enforced"}
    assert parsed("upn,perUserMfaState\nuser1@contoso.example,disabled\n").targets == {"u001": "disabled"}


def test_utf8_bom_is_fine() -> None:
    assert parsed(b"\xef\xbb\xbfUserPrincipalName\nuser1@contoso.example\n", default_state="enabled").ok


def test_row_errors_with_line_numbers() -> None:
    text = ("UserPrincipalName,State\n"
            "user1@contoso.example,enforced\n"    # 2 ok
            ",enforced\n"                          # 3 missing upn
            "not-an-address,enforced\n"            # 4 bad upn
            "USER1@contoso.example,enabled\n"      # 5 duplicate of line 2
            "user2@contoso.example,enable\n"       # 6 bad state
            "user3@contoso.example,\n"             # 7 no state, no default
            "nobody@contoso.example,enforced\n"    # 8 unknown
            "=cmd|' /C calc'!A0,enforced\n")       # 9 bad upn (a formula payload)
    result = parsed(text)
    assert [(e.line, e.code, e.message) for e in result.errors] == [
        (3, "missing_upn", "no user principal name on this line"),
        (4, "bad_upn", "'not-an-address' is not a user principal name (name@domain)"),
        (5, "duplicate", "USER1@contoso.example is listed again (first on line 2); each user once"),
        (6, "bad_state", "'enable' is not a state: use disabled, enabled or enforced"),
        (7, "missing_state", "no state on this line and no default state chosen"),
        (8, "unknown_user", "nobody@contoso.example is not in the tenant's latest snapshot (deleted, or a typo?)"),
        (9, "bad_upn", "\"=cmd|' /C calc'!A0\" is not a user principal name (name@domain)"),
    ]
    assert result.targets == {"u001": "enforced"}
    assert result.error_counts() == {"missing_upn": 1, "bad_upn": 2, "duplicate": 1, "missing_state": 1,
                                     "bad_state": 1, "unknown_user": 1}
    assert result.describe_errors() == "7 rows rejected; first: line 3: no user principal name on this line"
    csv_text = result.errors_csv().decode("utf-8-sig")
    assert '\r\n"9","\'=cmd|\' /C calc\'!A0","bad_upn",' in csv_text  # the formula is neutralised in the download


def test_quoted_multiline_cells_keep_spreadsheet_line_numbers() -> None:
    result = parsed('UserPrincipalName,State\n"user1@contoso.example",enforced\nnobody@x.example,enforced\n')
    assert [(e.line, e.code) for e in result.errors] == [(3, "unknown_user")]


def test_empty_files() -> None:
    assert refused(b"") == ("empty", "the file is empty: it needs one user principal name per line")
    assert refused(b"\xef\xbb\xbf \r\n\r\n") == ("empty",
                                                "the file is empty: it needs one user principal name per line")
    assert refused(b"UserPrincipalName,State\r\n") == ("empty", "the file has a header but no users")


def test_wrong_delimiters_are_named() -> None:
    assert refused(b"UserPrincipalName;State\nuser1@contoso.example;enabled\n") == (
        "delimiter", f"the file is separated by semicolons (;), not commas (,): {SAVE}, or choose semicolons (;) "
                     "as the separator")
    assert refused(b"UserPrincipalName\tState\nuser1@contoso.example\tenabled\n") == (
        "delimiter", f"the file is separated by tabs, not commas (,): {SAVE}, or choose tabs as the separator")
    chosen = parse_users_csv(b"UserPrincipalName;State\nuser1@contoso.example;enabled\n", FRAME, delimiter=";")
    assert chosen.targets == {"u001": "enabled"}


def test_the_separator_is_detected_when_not_chosen() -> None:
    for delimiter in (",", ";", "\t"):
        data = f"UserPrincipalName{delimiter}State\nuser1@contoso.example{delimiter}enforced\n".encode()
        parsed = parse_users_csv(data, FRAME, delimiter=None)
        assert parsed.targets == {"u001": "enforced"} and parsed.delimiter == delimiter
    single = parse_users_csv(b"user1@contoso.example\n", FRAME, default_state="enabled", delimiter=None)
    assert single.delimiter == "," and single.targets == {"u001": "enabled"}


def test_encodings_say_what_to_save_as() -> None:
    latin = "UserPrincipalName\nuser1@contoso.example\nbjörn@contoso.example\n".encode("cp1252")
    assert refused(latin) == ("encoding", "the file is not UTF-8 (it looks like Windows-1252 (\"ANSI\", what "
                                          "Excel's plain \"CSV (Comma delimited)\" writes); first bad byte on line 3): "
                                          + SAVE)
    utf16 = "UserPrincipalName\nuser1@contoso.example\n".encode("utf-16")
    assert refused(utf16) == ("encoding", f"the file is UTF-16 (Excel's \"Unicode Text\"), not UTF-8: {SAVE}")
    assert refused(b"PK\x03\x04rest-of-a-zip") == (
        "not_text", f"this is an Excel workbook (.xlsx), not a CSV file: {SAVE}")


def test_no_upn_column() -> None:
    assert refused(b"Name,State\nUser 1,enabled\n") == (
        "no_upn_column", "no column of user principal names: name it UserPrincipalName (found: Name, State)")
    assert refused(b"hello,world\nuser1@contoso.example,enabled\n") == (
        "no_upn_column", "no column of user principal names: the first line (hello, world) is neither a header "
                         "such as UserPrincipalName,State nor a UPN")


def test_more_than_200000_rows_is_refused() -> None:
    assert MAX_ROWS == 200_000
    body = "".join(f"user{n}@contoso.example\n" for n in range(200_001))
    assert refused("UserPrincipalName\n" + body, default_state="enabled") == (
        "too_many_rows", "the file has more than 200,000 rows: split it into files of at most 200,000")
    exactly = parse_users_csv(("UserPrincipalName\n" + body[: body.rindex("user200000@")]).encode(), FRAME,
                              default_state="enabled")
    assert exactly.data_rows == 200_000


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="default_state must be one of"):
        parse_users_csv(b"x@y.z\n", FRAME, default_state="on")
    with pytest.raises(ValueError, match="delimiter must be"):
        parse_users_csv(b"x@y.z\n", FRAME, delimiter="|")


def test_plan_from_csv_one_state_and_mixed_and_protected() -> None:
    one = parsed("upn\nuser1@contoso.example\nuser3@contoso.example\nuser2@contoso.example\n",
                 default_state="enabled")
    p = plan_from_csv(FRAME, one, protected=["user3@contoso.example"], actor=Admin())
    assert p.requested_state == "enabled" and p.source == "csv"
    assert p.change_ids == ["u001"]
    assert [(r.user_id, r.code) for r in p.skipped.itertuples()] == [("u003", "protected"),
                                                                      ("u002", "already_in_state")]
    mixed = parsed("upn,state\nuser1@contoso.example,enforced\nuser2@contoso.example,disabled\n")
    p = plan_from_csv(FRAME, mixed, actor=Admin())
    assert p.requested_state is None
    assert [(r.user_id, r.requested) for r in p.changes.itertuples()] == [("u001", "enforced"), ("u002", "disabled")]
