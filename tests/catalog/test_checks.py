"""Rules that fit their fields: a check whose rule does not fit its field's type (a date rule on
text, a numeric range on text) or whose parameters make no sense is refused where it is made,
with a message that says why, instead of warning on every scan."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from catalog.models import Check, Container, Field
from tests.base import client_for

# A column of each kind, as Sync records them (SQLite's and PostgreSQL's declared types).
TYPES = {
    "number": "INTEGER",
    "text": "character varying",
    "date": "timestamp with time zone",
    "boolean": "BOOLEAN",
    "other": "BLOB",
    "untyped": "",  # a SQLite view's computed column: no declared type
}
# Parameters each rule is given below: valid whenever the field fits.
PARAMS = {
    "not_null": {},
    "unique": {},
    "between": {"min": 0, "max": 10},
    "in_set": {"values": ["a", "b"]},
    "matches": {"pattern": "^[a-z]+$"},
    "not_future": {},
    "references": {"container": "customers", "field": "id"},
    "row_count": {"min": 1},
}
FIELD_PARAMS = {
    ("in_set", "number"): {"values": [1, 2]},
    ("in_set", "date"): {"values": ["2024-01-01"]},
    ("in_set", "boolean"): {"values": [True]},
    ("between", "date"): {"min": "2020-01-01", "max": "2030-12-31"},
}
ANY = set(TYPES)
FITS = {
    "not_null": ANY,
    "unique": ANY,
    "in_set": ANY,
    "references": ANY,
    "between": {"number", "date", "untyped"},
    "matches": {"text", "untyped"},
    "not_future": {"date", "untyped"},
    "row_count": set(),
}
REFUSALS = {
    "between": "Between needs a number or date field; col is {what} ({type}).",
    "matches": "Matches pattern needs a text field; col is {what} ({type}).",
    "not_future": "Not in the future needs a date field; col is {what} ({type}).",
    "row_count": "Row count between is about the whole container: leave the field empty.",
}
WHAT = {
    "number": "a number field",
    "text": "a text field",
    "date": "a date field",
    "boolean": "a boolean field",
    "other": "of another type",
}


@pytest.fixture
def shop(world):
    customers = Container.objects.create(datastore=world.shop, name="customers")
    Field.objects.create(container=customers, name="id", type="INTEGER")
    return Container.objects.create(datastore=world.shop, name="orders")


def check_on(container, rule, kind=None, params=None) -> Check:
    field = None
    if kind is not None:
        field = Field.objects.create(container=container, name="col", type=TYPES[kind])
    params = params if params is not None else FIELD_PARAMS.get((rule, kind), PARAMS[rule])
    return Check(container=container, field=field, rule=rule, params=params)


def refusals(check: Check) -> dict[str, list[str]]:
    try:
        check.full_clean()
    except ValidationError as error:
        return error.message_dict
    return {}


@pytest.mark.parametrize("kind", sorted(TYPES))
@pytest.mark.parametrize("rule", sorted(PARAMS))
def test_each_rule_fits_the_field_kinds_it_can_check_and_refuses_the_others(shop, rule, kind):
    problems = refusals(check_on(shop, rule, kind))
    if kind in FITS[rule]:
        assert problems == {}
    else:
        message = REFUSALS[rule].format(what=WHAT.get(kind), type=TYPES[kind])
        assert problems["field"] == [message]


@pytest.mark.parametrize("rule", sorted(PARAMS))
def test_a_rule_without_a_field_is_refused_unless_it_is_about_the_whole_container(shop, rule):
    problems = refusals(check_on(shop, rule))
    if rule == "row_count":
        assert problems == {}
    else:
        assert problems["field"] == [f"{Check.Rule(rule).label} needs a field."]


@pytest.mark.parametrize(
    ("rule", "kind", "params", "message"),
    [
        ("between", "number", {}, "Between needs a min, a max or both."),
        ("between", "number", {"min": "1"}, "Between on a number field needs numbers"),
        ("between", "number", {"min": True}, "Between on a number field needs numbers"),
        ("between", "number", {"min": 5, "max": 1}, "Between: min 5 is above max 1."),
        ("between", "date", {"min": 0}, "Between on a date field needs ISO dates"),
        ("between", "date", {"max": "31/12/2024"}, "Between on a date field needs ISO dates"),
        ("between", "number", {"low": 1}, "Between takes min, max, not low."),
        ("in_set", "text", {"values": []}, "Values in set needs a list of values"),
        ("in_set", "text", {"values": "DE"}, "Values in set needs a list of values"),
        ("in_set", "text", {"values": [1]}, "Values in set: 1 is not text (quote it)."),
        ("in_set", "number", {"values": ["1"]}, "Values in set: '1' is not a number."),
        ("in_set", "other", {"values": [None]}, "Values in set: None is not a plain value"),
        ("matches", "text", {}, "Matches pattern needs a pattern"),
        ("matches", "text", {"pattern": "(unclosed"}, "is not a valid regular expression"),
        ("references", "number", {"container": "customers"}, "needs a container and a field"),
        ("references", "number", {"container": "nowhere", "field": "id"}, "has no container"),
        ("references", "number", {"container": "customers", "field": "x"}, "has no field 'x'"),
        ("not_null", "text", {"min": 1}, "Not null takes no parameters, not min."),
        ("not_null", "text", [], "Parameters are a JSON object"),
        ("row_count", None, {"min": -1}, "needs whole numbers of records"),
        ("row_count", None, {"min": 10, "max": 5}, "min 10 is above max 5"),
    ],
)
def test_parameters_that_make_no_sense_are_refused(shop, rule, kind, params, message):
    problems = refusals(check_on(shop, rule, kind, params))
    assert message in problems["params"][0]


def test_a_field_of_another_container_is_refused(shop):
    customers = Container.objects.get(name="customers")
    check = Check(container=shop, field=customers.fields.get(), rule="not_null")
    assert refusals(check) == {"field": ["id is a field of another container."]}


def test_the_admin_refuses_an_unfit_check_and_saves_nothing(world, shop):
    note = Field.objects.create(container=shop, name="note", type="TEXT")
    client = client_for(world, "superuser")
    form = {
        "container": shop.pk,
        "field": note.pk,
        "rule": "not_future",
        "params": "{}",
        "status": "active",
        "description": "",
    }
    page = client.post("/admin/catalog/check/add/", form)
    assert page.status_code == 200
    assert "Not in the future needs a date field; note is a text field (TEXT)." in page.text
    assert not Check.objects.exists()

    page = client.post("/admin/catalog/check/add/", form | {"rule": "matches", "params": "{}"})
    assert "Matches pattern needs a pattern" in page.text
    assert not Check.objects.exists()

    fit = form | {"rule": "matches", "params": '{"pattern": "^[a-z ]*$"}'}
    assert client.post("/admin/catalog/check/add/", fit).status_code == 302
    assert Check.objects.get().rule == "matches"
