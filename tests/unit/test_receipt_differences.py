"""How a refused plan file names what differs: readable paths, bounded in count and length."""

from __future__ import annotations

from turnstile_sync.planfile import MAX_DIFFERENCES, MAX_VALUE_CHARS, receipt_differences


def action(name: str, **fields: object) -> dict[str, object]:
    return {
        "kind": "update",
        "name": name,
        "sitekey": f"0x4AAAAAAA{name}",
        "body": {"name": name, "domains": ["a.com"]},
        "name_taken_by": [],
        **fields,
    }


def document(*actions: dict[str, object], **top: object) -> dict[str, object]:
    return {
        "created_at": "2026-01-01T00:00:00+00:00",
        "created_by": "turnstile-sync 0.1.0",
        "account_id": "a" * 32,
        "spec": {"path": "widgets.yaml", "sha256": "0" * 64},
        "unmanaged": [],
        "actions": list(actions),
        **top,
    }


def test_a_changed_list_of_values_is_shown_whole():
    changed = action("login", body={"name": "login", "domains": ["a.com", "c.com"]})
    lines = receipt_differences(document(changed), document(action("login")))
    assert lines == [
        "actions[0].body.domains: ['a.com', 'c.com'] in the file, ['a.com'] re-derived"
    ]


def test_an_extra_action_is_named_by_kind_name_and_sitekey():
    lines = receipt_differences(
        document(action("login"), action("old", kind="delete", body=None)),
        document(action("login")),
    )
    assert lines == [
        "actions[1]: delete 'old' (sitekey '0x4AAAAAAAold') in the file, absent re-derived"
    ]


def test_when_who_and_where_from_and_what_is_left_alone_may_differ():
    reviewed = document(action("login"), created_at="then", created_by="someone", unmanaged=[1])
    derived = document(action("login"), spec={"path": "./widgets.yaml", "sha256": "0" * 64})
    assert receipt_differences(reviewed, derived) == []


def test_differences_are_bounded_in_count_and_length():
    reviewed = document(*(action(f"w{i}", kind="delete") for i in range(30)))
    derived = document(*(action(f"w{i}") for i in range(30)))
    lines = receipt_differences(reviewed, derived)
    assert len(lines) == MAX_DIFFERENCES + 1
    assert lines[-1] == f"... and {30 - MAX_DIFFERENCES} more difference(s)"

    huge = action("login", body={"name": "login", "domains": ["x" * 10_000]})
    (line,) = receipt_differences(document(huge), document(action("login")))
    assert len(line) < 2 * MAX_VALUE_CHARS + 100
    assert line.startswith("actions[0].body.domains: ['xxx") and "x... in the file" in line


def test_control_characters_in_an_edited_value_are_escaped():
    hostile = {**action("login"), "name": "login\x1b[2J\u202e"}
    (line,) = receipt_differences(document(hostile), document(action("login")))
    assert "\x1b" not in line and "\u202e" not in line
    assert "\\x1b[2J" in line
