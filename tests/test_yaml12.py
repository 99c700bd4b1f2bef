"""zoo.yaml12: YAML 1.2's core schema, and what an untrusted recipe file may not hold (one line each, with its line)."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from zoo import yaml12
from zoo.yaml12 import YamlError


def _laughs(levels: int, width: int = 9) -> str:
    """The "billion laughs": each anchor is a list of ``width`` aliases of the one before (width ** levels values)."""
    lines = ["a0: &a0 [" + ", ".join(["lol"] * width) + "]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * width) + "]" for i in range(1, levels)]
    return "\n".join(lines) + "\n"


def test_an_alias_bomb_is_refused_at_once_with_the_aliases_it_uses():
    start = time.perf_counter()
    with pytest.raises(YamlError) as info:
        yaml12.safe_load(_laughs(9))  # 9 ** 9 = 387 million values
    assert time.perf_counter() - start < 1.0
    message = str(info.value)
    assert "(*a0 9 times, *a1 9 times," in message and "*a7 9 times)" in message and "more than the 100,000" in message
    # the level-i list stands for 1 + 9 + ... + 9 ** (i + 1) = (9 ** (i + 2) - 1) / 8 values; plus 9 keys and the root
    assert f"{sum((9 ** (i + 2) - 1) // 8 for i in range(9)) + 10:,} values" in message


def test_aliases_within_the_limit_and_merge_keys_still_work():
    assert yaml12.safe_load(_laughs(3)) == {"a0": ["lol"] * 9, "a1": [["lol"] * 9] * 9, "a2": [[["lol"] * 9] * 9] * 9}
    text = "base: &base {steps: 2, lr: 0.1}\ntrain:\n  <<: *base\n  steps: 5\n"  # a merged key may be overridden
    assert yaml12.safe_load(text)["train"] == {"steps": 5, "lr": 0.1}


@pytest.mark.parametrize(("text", "message"), [
    ("train: {steps: 2, steps: 3}\n", "line 1, column 19: the key 'steps' is stated twice in one mapping "
                                      "(first at line 1, column 9); keep one"),
    ("model:\n  name: vae\ntrain: {}\nmodel: {name: ae}\n", "line 4, column 1: the key 'model' is stated twice"),
    ("a: 1\n1: x\n? a\n: 2\n", "line 3, column 3: the key 'a' is stated twice"),
])
def test_a_key_stated_twice_is_refused_with_both_lines(text, message):
    with pytest.raises(YamlError, match="^" + message.replace("(", r"\(").replace(")", r"\)")):
        yaml12.safe_load(text)


@pytest.mark.parametrize(("value", "tag"), [
    ("!!binary aGVsbG8=", "!!binary"), ("!!set {a, b}", "!!set"), ("!!timestamp 2024-01-01", "!!timestamp"),
    ("!!omap [a: 1]", "!!omap"), ("!!pairs [a: 1]", "!!pairs"), ("!mine 3", "!mine"),
    ("!!python/object:os.system ls", "!!python/object:os.system"),
])
def test_tags_outside_the_core_schema_are_refused_by_name(value, tag):
    with pytest.raises(YamlError, match=rf"^line 2: the tag {tag} is not in YAML's core schema"):
        yaml12.safe_load(f"steps: 2\nvalue: {value}\n")


def test_the_core_schemas_own_tags_still_convert():
    assert yaml12.safe_load("[!!str 3, !!int '4', !!float 1, !!bool true, !!null '', !!seq [1], !!map {a: 1}]") == [
        "3", 4, 1.0, True, None, [1], {"a": 1}]


@pytest.mark.parametrize(("text", "message"), [
    ("a: &a [1, *a]\n", "line 1: an alias refers to a list or mapping that contains it"),
    ("a: &a {x: 1, y: *a}\n", "line 1: an alias refers to a list or mapping that contains it"),
    ("a: " + "[" * 70 + "]" * 70 + "\n", "line 1: lists and mappings nested more than 64 deep"),
    ("a: " + "[" * 5000 + "]" * 5000 + "\n", "lists and mappings nested too deep"),
    ("model: [unclosed\n", r"line 2, column 1: not valid YAML: expected ',' or '\]'"),
])
def test_recursive_and_too_deep_documents_and_bad_syntax_are_one_line(text, message):
    with pytest.raises(YamlError, match="^" + message) as info:
        yaml12.safe_load(text)
    assert "\n" not in str(info.value)


def test_zoo_train_refuses_an_alias_bomb_in_a_recipe_file_in_seconds(tmp_path):
    """It ran until killed: every walk of the recipe visited each of the 9 ** 9 values its aliases stand for."""
    (tmp_path / "bomb.yaml").write_text("base: vae-digits\n" + _laughs(9))
    result = subprocess.run([sys.executable, "-m", "zoo", "train", str(tmp_path / "bomb.yaml"), "--out",
                             str(tmp_path / "run")], capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert result.stderr.startswith(f"error: {tmp_path / 'bomb.yaml'}: aliases (*a0 9 times")
    assert len(result.stderr.strip().splitlines()) == 1 and not (tmp_path / "run").exists()
