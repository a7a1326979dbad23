"""How apply presents its results: each action once, in one place per kind of output.

On a terminal with colour: a live progress bar (erased), then the report lists every action.
Without a terminal, or with --no-color / NO_COLOR: one line per action as it finishes, and
the report adds only the summary. --no-color means no escape sequence of any kind.
A replacement shows its old and new sitekeys, as pages must switch from one to the other.
"""

from __future__ import annotations

import json
import re

import pytest

from tests.e2e.conftest import live_widgets, seed
from tests.e2e.test_safety import entry, spec_text
from tests.processes import run_in_terminal

SPEC = """\
account_id: 023e105f4ecef8ad9ca31a8372d0c353
widgets:
  - name: w0
    mode: managed
    domains: [example.com]
  - name: w1
    mode: managed
    domains: [example.com]
  - name: w2
    mode: managed
    domains: [example.com]
"""
ESCAPE = re.compile(r"\x1b")


@pytest.mark.parametrize(
    ("where", "env"),
    [("after", {"NO_COLOR": ""}), ("before", {"NO_COLOR": ""})],
)
def test_no_color_on_a_terminal_writes_no_escape_sequence(write_spec, target, tmp_path, where, env):
    args = ["apply", str(write_spec(SPEC)), *target.args]
    args = [*args, "--no-color"] if where == "after" else ["--no-color", *args]
    code, output = run_in_terminal(args, "yes", cwd=tmp_path, env={**target.env, **env})
    assert code == 0, output
    assert not ESCAPE.search(output), repr(output)
    # one line per action as it finished, not repeated by the report
    for name in ("w0", "w1", "w2"):
        assert output.count(f"create '{name}' (") == 1, output
    assert "Apply complete: 3 done." in output


def test_a_colour_terminal_shows_a_bar_then_lists_each_action_once(write_spec, target, tmp_path):
    args = ["apply", str(write_spec(SPEC)), *target.args]
    code, output = run_in_terminal(
        args, "yes", cwd=tmp_path, env={**target.env, "NO_COLOR": "", "TERM": "xterm"}
    )
    assert code == 0, output
    assert ESCAPE.search(output)  # the live display (and colour) were on
    plain = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", output)
    assert "apply [" not in plain  # no per-action progress lines: the bar stood for them
    for name in ("w0", "w1", "w2"):
        assert plain.count(f"create '{name}' (") == 1, plain
    assert "Apply complete: 3 done." in plain


def test_a_replacement_reports_old_and_new_sitekeys(write_spec, target):
    old = seed(target.db, name="checkout", region="world")
    path = str(write_spec(spec_text(entry("checkout", "region: china"))))
    result = target.run(["apply", path, "--auto-approve"])
    assert result.exit_code == 0, result.stdout + result.stderr
    (new,) = [w["sitekey"] for w in live_widgets(target.db)]
    assert f"replace 'checkout' ({old['sitekey']} -> {new})" in result.stderr

    again = seed(target.db, name="legacy", region="world")
    path = str(
        write_spec(spec_text(entry("checkout", "region: china"), entry("legacy", "region: china")))
    )
    document = json.loads(target.run(["apply", path, "--auto-approve", "--format", "json"]).stdout)
    (result_,) = [r for r in document["results"] if r["name"] == "legacy"]
    assert result_["kind"] == "replace"
    assert result_["replaced_sitekey"] == again["sitekey"]
    assert result_["sitekey"] == next(
        w["sitekey"] for w in live_widgets(target.db) if w["name"] == "legacy"
    )
