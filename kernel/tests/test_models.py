"""Models: ``@db.model`` turns an annotated class into a ModelSpec (API.md "Models")."""

from __future__ import annotations

import datetime as dt
from typing import Any, Optional

import pytest
from dataflow.errors import DataFlowError
from dataflow.models import MISSING, model_spec_from_class, table_name_for
from dataflow.testing.helpers import ScalarFields


@pytest.mark.parametrize(
    ("class_name", "table"),
    [
        ("User", "users"),
        ("Category", "categories"),
        ("AgentMemory", "agent_memories"),
        ("Person", "people"),
        ("OrderItem", "order_items"),
        ("Address", "addresses"),
        ("Child", "children"),
    ],
)
def test_table_name_is_snake_case_with_the_last_word_pluralised(class_name: str, table: str) -> None:
    assert table_name_for(class_name) == table


def test_tablename_attribute_overrides_the_rule() -> None:
    class User:
        __tablename__ = "accounts"
        name: str

    assert model_spec_from_class(User).table == "accounts"


def test_dataflow_table_option_overrides_the_rule() -> None:
    class User:
        __dataflow__ = {"table": "members"}
        name: str

    assert model_spec_from_class(User).table == "members"


def test_fields_keep_declaration_order_with_id_first_and_timestamps_last() -> None:
    class Item:
        name: str
        id: str
        price: float

    spec = model_spec_from_class(Item)
    assert spec.column_names == ("id", "name", "price", "created_at", "updated_at")
    assert [f.name for f in spec.writable_fields] == ["id", "name", "price"]
    assert all(f.auto and f.nullable for f in spec.fields[-2:])


def test_str_id_is_supplied_by_the_caller() -> None:
    class User:
        id: str
        name: str

    spec = model_spec_from_class(User)
    assert spec.id_field.kind == "str"
    assert spec.id_field.primary_key
    assert not spec.id_is_generated
    assert spec.id_field.required


@pytest.mark.parametrize("declare_id", [True, False])
def test_int_id_or_no_id_is_generated(declare_id: bool) -> None:
    namespace: dict[str, Any] = {"__annotations__": {"id": int, "name": str} if declare_id else {"name": str}}
    spec = model_spec_from_class(type("Thing", (), namespace))
    assert spec.id_field.kind == "int"
    assert spec.id_is_generated
    assert not spec.id_field.required


def test_every_supported_type_maps_to_a_kind() -> None:
    class Everything(ScalarFields):  # s, i, f, b, when, day, amount, blob: read from the base class
        prefs: dict
        tags: list
        names: list[str]
        scores: list[int]
        maybe: Optional[str] = None  # noqa: UP045 - the spec spells it this way
        union: int | None

    kinds = {f.name: (f.kind, f.nullable, f.element_kind) for f in model_spec_from_class(Everything).fields}
    assert kinds["s"] == ("str", False, None)
    assert kinds["i"] == ("int", False, None)
    assert kinds["f"] == ("float", False, None)
    assert kinds["b"] == ("bool", False, None)
    assert kinds["when"] == ("datetime", False, None)
    assert kinds["day"] == ("date", False, None)
    assert kinds["amount"] == ("decimal", False, None)
    assert kinds["blob"] == ("bytes", False, None)
    assert kinds["prefs"] == ("json", False, None)
    assert kinds["tags"] == ("json", False, None)
    assert kinds["names"] == ("array", False, "str")
    assert kinds["scores"] == ("array", False, "int")
    assert kinds["maybe"] == ("str", True, None)
    assert kinds["union"] == ("int", True, None)


def test_defaults_and_required_fields() -> None:
    class User:
        name: str
        age: int = 0
        prefs: dict = {}
        nickname: str = None  # type: ignore[assignment]  # a None default makes the field nullable

    spec = model_spec_from_class(User)
    assert spec.field("name").default is MISSING and spec.field("name").required
    assert spec.field("age").default == 0 and not spec.field("age").required
    assert spec.field("nickname").nullable
    first, second = spec.field("prefs").default_value(), spec.field("prefs").default_value()
    first["x"] = 1
    assert second == {}, "a mutable default must never be shared between rows"


def test_indexes_are_read_from_dunder_dataflow() -> None:
    class User:
        email: str
        name: str
        __dataflow__ = {"indexes": [
            {"name": "ix_email", "fields": ["email"], "unique": True},
            {"fields": ["name", "email"]},
        ]}

    spec = model_spec_from_class(User)
    unique, plain = spec.indexes
    assert (unique.name, unique.fields, unique.unique) == ("ix_email", ("email",), True)
    assert (plain.name, plain.fields, plain.unique) == ("ix_users_name_email", ("name", "email"), False)


def test_index_on_an_unknown_field_suggests_the_closest() -> None:
    class User:
        email: str
        __dataflow__ = {"indexes": [{"fields": ["emial"]}]}

    with pytest.raises(DataFlowError) as info:
        model_spec_from_class(User)
    assert info.value.code == "DF-102"
    assert "'email'" in info.value.message


def test_primary_key_other_than_id_is_df601_with_the_fix() -> None:
    class User:
        user_id: str
        __dataflow__ = {"primary_key": "user_id"}

    with pytest.raises(DataFlowError) as info:
        model_spec_from_class(User)
    assert info.value.code == "DF-601"
    assert "always 'id'" in info.value.message
    assert any("id: str" in s for s in info.value.solutions)


def test_id_of_another_type_is_df601() -> None:
    class User:
        id: float

    with pytest.raises(DataFlowError) as info:
        model_spec_from_class(User)
    assert info.value.code == "DF-601"


def test_unknown_dunder_dataflow_key_suggests_the_closest() -> None:
    class User:
        name: str
        __dataflow__ = {"indexs": []}

    with pytest.raises(DataFlowError) as info:
        model_spec_from_class(User)
    assert info.value.code == "DF-102"
    assert "Did you mean 'indexes'?" in info.value.message


@pytest.mark.parametrize("annotation", [set, tuple, complex])
def test_unsupported_types_are_rejected_naming_the_field(annotation: Any) -> None:
    cls = type("Odd", (), {"__annotations__": {"value": annotation}})
    with pytest.raises(DataFlowError) as info:
        model_spec_from_class(cls)
    assert info.value.code == "DF-603"  # an invalid model declaration
    assert "'value'" in info.value.message


def test_unions_other_than_optional_are_rejected() -> None:
    cls = type("Odd", (), {"__annotations__": {"value": dict[str, int] | int}})
    with pytest.raises(DataFlowError) as info:
        model_spec_from_class(cls)
    assert info.value.code in ("DF-102", "DF-603")
    assert "Optional" in info.value.message


def test_list_of_non_scalars_is_stored_as_json() -> None:
    cls = type("Odd", (), {"__annotations__": {"value": list[dict]}})
    assert model_spec_from_class(cls).field("value").kind == "json"


def test_invalid_table_name_is_rejected() -> None:
    class User:
        __tablename__ = "users; DROP TABLE x"
        name: str

    with pytest.raises(DataFlowError) as info:
        model_spec_from_class(User)
    assert info.value.code == "DF-607"


def test_timestamps_declared_by_the_user_stay_managed() -> None:
    class Post:
        title: str
        created_at: dt.datetime

    spec = model_spec_from_class(Post)
    assert spec.field("created_at").auto
    assert spec.column_names.count("created_at") == 1


def test_model_decorator_registers_and_duplicate_is_df602(make_db: Any) -> None:
    db = make_db()

    @db.model
    class User:
        id: str
        name: str

    assert db.list_models() == ["User"]
    assert User.__dataflow_model__.table == "users"  # type: ignore[attr-defined]

    with pytest.raises(DataFlowError) as info:

        @db.model
        class User:
            name: str

    assert info.value.code == "DF-602"
    assert "already registered" in info.value.message


def test_same_model_name_on_two_instances_is_fine(make_db: Any) -> None:
    first, second = make_db(), make_db()
    for db in (first, second):

        @db.model
        class User:
            name: str

    assert first.get_model("User") is not second.get_model("User")


def test_get_model_unknown_suggests_the_closest(make_db: Any) -> None:
    db = make_db()

    @db.model
    class User:
        name: str

    with pytest.raises(DataFlowError) as info:
        db.get_model("Usr")
    assert "Did you mean 'User'?" in info.value.message


def test_field_lookup_unknown_is_df102_with_suggestion() -> None:
    class User:
        email: str

    with pytest.raises(DataFlowError) as info:
        model_spec_from_class(User).field("emal")
    assert info.value.code == "DF-102"
    assert "Did you mean 'email'?" in info.value.message


def test_checksum_changes_with_the_columns() -> None:
    class A:
        name: str

    class B:
        name: str
        age: int

    B.__name__ = "A"
    assert model_spec_from_class(A).checksum() == model_spec_from_class(A).checksum()
    assert model_spec_from_class(A).checksum() != model_spec_from_class(B).checksum()
