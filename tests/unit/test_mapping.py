"""resolve_mapping: which column feeds which field, and every ambiguity as an error."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spotzee_frames._errors import ValidationError
from spotzee_frames._mapping import FIRST_CLASS, resolve_mapping


def test_first_class_names_map_themselves_and_the_rest_goes_to_data() -> None:
    cols = ["external_id", "email", "first_name", "last_name", "plan", "phone"]
    m = resolve_mapping(cols)
    assert m.fields == {"external_id": "external_id", "email": "email", "phone": "phone"}
    assert m.data == {"first_name": "first_name", "last_name": "last_name", "plan": "plan"}
    assert m.excluded == ()


def test_explicit_mapping_wins_over_names_and_is_never_duplicated_into_data() -> None:
    cols = ["CustomerID", "Work Email", "FirstName", "email"]
    m = resolve_mapping(
        cols,
        {
            "CustomerID": "external_id",
            "Work Email": "email",
            "FirstName": "first_name",
            "email": "data.old_email",
        },
    )
    assert m.fields == {"external_id": "CustomerID", "email": "Work Email"}
    assert m.data == {"first_name": "FirstName", "old_email": "email"}
    assert m.target_of("Work Email") == "email"
    assert m.target_of("email") == "data.old_email"
    assert "Work Email" not in m.data.values()


def test_first_and_last_name_are_data_shorthands() -> None:
    m = resolve_mapping(["id", "fn"], {"id": "external_id", "fn": "last_name"})
    assert m.data == {"last_name": "fn"}


def test_excluding_columns_by_mapping_to_none_or_exclude() -> None:
    m = resolve_mapping(["external_id", "a", "b", "c"], {"a": None}, exclude=["b"])
    assert m.data == {"c": "c"}
    assert m.excluded == ("a", "b")
    assert m.target_of("a") is None


def test_rest_to_data_false_leaves_unmapped_columns_out() -> None:
    m = resolve_mapping(["external_id", "x"], rest_to_data=False)
    assert m.data == {}
    assert m.excluded == ("x",)


def test_unknown_field_lists_the_valid_ones_and_suggests() -> None:
    with pytest.raises(ValidationError) as info:
        resolve_mapping(["a"], {"a": "emial"})
    text = str(info.value)
    assert "'emial'" in text
    assert "did you mean 'email'" in text
    for name in FIRST_CLASS:
        assert repr(name) in text
    assert "data.<key>" in text


def test_mapping_key_that_is_not_a_column() -> None:
    with pytest.raises(
        ValidationError, match=r"column 'Emial'.*not in the frame.*did you mean 'Email'"
    ):
        resolve_mapping(["Email", "id"], {"Emial": "email"})


def test_two_columns_for_one_field_name_both() -> None:
    with pytest.raises(ValidationError, match=r"\['email', 'Work Email'\] all map to 'email'"):
        resolve_mapping(["email", "Work Email"], {"Work Email": "email"})
    with pytest.raises(ValidationError, match=r"all map to 'data\.plan'"):
        resolve_mapping(["plan", "tier"], {"tier": "data.plan"})


@pytest.mark.parametrize(
    ("mapping", "exclude", "message"),
    [
        ({"a": 3}, (), "must be a field name"),
        ({"a": "data."}, (), "'data.' with no key"),
        ({"a": "email"}, ("a",), "both mapped"),
        ({}, ("zz",), "exclude names column 'zz'"),
    ],
)
def test_other_mistakes(mapping: dict, exclude: tuple, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        resolve_mapping(["a", "b"], mapping, exclude=exclude)


def test_mapping_must_be_a_dict() -> None:
    with pytest.raises(ValidationError, match="must be a dict"):
        resolve_mapping(["a"], ["a"])  # type: ignore[arg-type]


def test_duplicate_column_labels_are_an_error_only_when_used() -> None:
    with pytest.raises(ValidationError, match="several columns labelled"):
        resolve_mapping(["id", "x", "x"], {"id": "external_id"})
    m = resolve_mapping(["id", "x", "x"], {"id": "external_id", "x": None})
    assert m.data == {}


def test_non_string_labels_become_string_data_keys() -> None:
    m = resolve_mapping(["external_id", 0, 1.5])
    assert m.data == {"0": 0, "1.5": 1.5}


def test_trigger_fields_can_be_extended() -> None:
    m = resolve_mapping(["external_id", "device_token"], fields=(*FIRST_CLASS, "device_token"))
    assert m.fields["device_token"] == "device_token"


_names = st.text(alphabet="abcdefgh_", min_size=1, max_size=6)
_targets = st.one_of(
    st.none(),
    st.sampled_from([*FIRST_CLASS, "first_name", "last_name"]),
    _names.map(lambda k: "data." + k),
)


@settings(deadline=None)
@given(
    columns=st.lists(st.one_of(_names, st.sampled_from(FIRST_CLASS)), unique=True, max_size=8),
    choices=st.data(),
)
def test_property_every_column_is_accounted_for_once(
    columns: list[str], choices: st.DataObject
) -> None:
    keys = choices.draw(st.lists(st.sampled_from(columns), unique=True) if columns else st.just([]))
    mapping = {k: choices.draw(_targets) for k in keys}
    try:
        m = resolve_mapping(columns, mapping)
    except ValidationError as exc:
        # the only way a valid-looking mapping fails: two columns for one target
        assert "all map to" in str(exc)
        return
    used = m.columns
    assert len(used) == len(set(used))  # no column feeds two targets
    assert set(used) | set(m.excluded) == set(columns)  # every column accounted for
    assert not set(used) & set(m.excluded)
    for col in columns:
        target = m.target_of(col)
        if col in mapping:
            wanted = mapping[col]
            if wanted in ("first_name", "last_name"):
                wanted = "data." + wanted
            assert target == wanted
        elif col in FIRST_CLASS:
            assert target == col
        else:
            assert target == "data." + col


def test_columns_spelt_loosely_like_a_field_map_to_it() -> None:
    resolved = resolve_mapping(["External ID", " Email ", "PHONE", "TimeZone", "plan"])
    assert resolved.fields == {
        "external_id": "External ID",
        "email": " Email ",
        "phone": "PHONE",
        "timezone": "TimeZone",
    }
    assert resolved.data == {"plan": "plan"}


def test_an_exact_or_explicit_column_wins_over_a_loose_one() -> None:
    resolved = resolve_mapping(["email", "Email", "Mail"], {"Mail": "phone"})
    assert resolved.fields == {"email": "email", "phone": "Mail"}
    assert resolved.data == {"Email": "Email"}


def test_case_and_punctuation_do_not_hide_a_field() -> None:
    resolved = resolve_mapping(["externalId", "E-mail", "Time Zone", "anonymousID", "plan"])
    assert resolved.fields == {
        "external_id": "externalId",
        "anonymous_id": "anonymousID",
        "email": "E-mail",
        "timezone": "Time Zone",
    }
    assert resolved.data == {"plan": "plan"}
    crm = resolve_mapping(["Email Address", "Phone Number", "Mobile"])
    assert crm.fields == {"email": "Email Address", "phone": "Phone Number"}
    assert crm.data == {"Mobile": "Mobile"}


def test_two_loose_spellings_of_one_field_stay_custom_data() -> None:
    resolved = resolve_mapping(["Email", "EMAIL", "id"])
    assert "email" not in resolved.fields
    assert set(resolved.data) == {"Email", "EMAIL", "id"}


def test_multiindex_labels_read_as_their_joined_parts() -> None:
    """`groupby().agg([...]).reset_index()` leaves labels like ('external_id', '')."""
    resolved = resolve_mapping([("external_id", ""), ("spend", "sum"), ("Spend", "max")])
    assert resolved.fields == {"external_id": ("external_id", "")}
    assert resolved.data == {"spend_sum": ("spend", "sum"), "Spend_max": ("Spend", "max")}


def test_one_column_feeds_several_targets_and_each_target_takes_one_column() -> None:
    resolved = resolve_mapping(["Email", "plan"], {"Email": ["external_id", "email"]})
    assert resolved.fields == {"external_id": "Email", "email": "Email"}
    assert resolved.targets_of("Email") == ["external_id", "email"]
    assert resolved.columns == ["Email", "plan"]  # once each
    both = resolve_mapping(["e"], {"e": ("email", "data.contact_email", "email")})
    assert both.fields == {"email": "e"} and both.data == {"contact_email": "e"}
    with pytest.raises(ValidationError, match=r"\['Email', 'email'\] all map to 'email'"):
        resolve_mapping(["Email", "email"], {"Email": ["external_id", "email"]})
    for bad in ([], ["email", None], {"email"}):
        with pytest.raises(ValidationError, match="column 'Email'"):
            resolve_mapping(["Email"], {"Email": bad})  # type: ignore[dict-item]


@pytest.mark.parametrize(
    ("header", "key"),
    [
        ("First Name", "first_name"),
        ("FirstName", "first_name"),
        ("fname", "first_name"),
        ("Given Name", "first_name"),
        ("Last Name", "last_name"),
        ("LAST_NAME", "last_name"),
        ("Surname", "last_name"),
        ("lname", "last_name"),
        ("Family Name", "last_name"),
    ],
)
def test_conventional_data_keys_are_matched_loosely(header: str, key: str) -> None:
    resolved = resolve_mapping(["external_id", header, "plan"])
    assert resolved.data == {key: header, "plan": "plan"}
    assert resolved.matched == {header: f"data.{key}"}


def test_conventional_keys_only_where_no_column_claims_them() -> None:
    taken = resolve_mapping(["first_name", "First Name"])
    assert taken.data == {"first_name": "first_name", "First Name": "First Name"}
    explicit = resolve_mapping(["nick", "fname"], {"nick": "first_name"})
    assert explicit.data == {"first_name": "nick", "fname": "fname"}
    two = resolve_mapping(["First Name", "fname"])  # neither more the name than the other
    assert set(two.data) == {"First Name", "fname"} and two.matched == {}
    out = resolve_mapping(["Surname"], rest_to_data=False)
    assert out.data == {} and out.matched == {}


def test_loose_first_class_matches_are_listed_too() -> None:
    assert resolve_mapping(["E-mail", "external_id"]).matched == {"E-mail": "email"}


@pytest.mark.parametrize(
    ("columns", "suggested"),
    [
        (["Email", "Customer Id", "Order ID"], ["Customer Id"]),
        (["ContactID", "userId", "paid", "Name"], ["ContactID", "userId"]),
        (["Account Number", "id"], ["id", "Account Number"]),
        (["Order ID", "Paid"], ["Order ID"]),  # only a weak candidate: still said
        (["Email", "Plan"], []),
    ],
)
def test_id_like_columns_are_suggested(columns: list[str], suggested: list[str]) -> None:
    from spotzee_frames._mapping import id_suggestions

    assert id_suggestions(columns) == suggested
