"""The acceptance time limit (受理时限) in the taxonomy file: the default table, an item's own, bad values."""

from __future__ import annotations

from pathlib import Path

import pytest

from dispatch.taxonomy import DEFAULT_ACCEPT_HOURS, load_taxonomy
from hub.settings import PROJECT_ROOT

ITEM = """
          - code: "{code}"
            name: 事项{code}
            platform: zongzhi
            deadline_hours: {{normal: 48, urgent: 24, critical: 4}}
{extra}"""


def _write(tmp_path: Path, head: str, items: list[tuple[str, str]]) -> Path:
    body = "".join(ITEM.format(code=code, extra=extra) for code, extra in items)
    text = f'{head}majors:\n  - code: "01"\n    name: 大类\n    minors:\n      - code: "0101"\n        name: 小类\n'
    text += "        items:" + body + "\n"
    (tmp_path / "categories.yaml").write_text(text, encoding="utf-8")
    return tmp_path


def test_the_bundled_taxonomy_has_an_acceptance_limit_for_every_item() -> None:
    taxonomy = load_taxonomy(PROJECT_ROOT / "config")
    for category in taxonomy.categories.values():
        assert category.accept_hours_for("critical") <= category.accept_hours_for("normal")
    gas = next(c for c in taxonomy.categories.values() if c.name == "燃气泄漏")
    assert gas.accept_hours_for("critical") == 0.5


def test_default_table_and_an_items_own_limit(tmp_path: Path) -> None:
    taxonomy = load_taxonomy(
        _write(tmp_path, "", [("010101", ""), ("010102", "            accept_hours: {critical: 0.25}\n")])
    )
    assert taxonomy.categories["010101"].accept_hours == DEFAULT_ACCEPT_HOURS
    own = taxonomy.categories["010102"]
    assert own.accept_hours_for("critical") == 0.25 and own.accept_hours_for("normal") == 24.0
    assert own.accept_hours_for("unknown") == 24.0  # falls back to normal, like the handling limit


@pytest.mark.parametrize(
    "head", ["accept_hours: {urgent: 2}\n", "accept_hours: {normal: 0}\n", "accept_hours: {normal: -3}\n"]
)
def test_a_bad_acceptance_table_is_refused_at_load(tmp_path: Path, head: str) -> None:
    with pytest.raises(ValueError, match="accept_hours"):
        load_taxonomy(_write(tmp_path, head, [("010101", "")]))
