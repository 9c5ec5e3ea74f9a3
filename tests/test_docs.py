"""The user-facing text stays inside the repository: no README, doc or pyproject line points outside it."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_no_user_text_points_outside_the_repository():
    files = [ROOT / "README.md", ROOT / "pyproject.toml", *sorted((ROOT / "docs").rglob("*.md"))]
    outside = re.compile(r"\.\./shared|shared/(reference|papers|DESIGN)|DESIGN\.md")
    hits = [f"{f.relative_to(ROOT)}:{i}" for f in files for i, line in enumerate(f.read_text().splitlines(), 1)
            if outside.search(line)]
    assert hits == []
    assert (ROOT / "docs" / "design.md").is_file()
