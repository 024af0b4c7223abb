"""The README is the entry page and every relative link resolves.

Checks README.md's size and its two commands, and that each relative link
in README.md and docs/*.md names a file of the repository and, with a
``#fragment``, a heading of that file (GitHub's anchor rule).
"""
import re
from pathlib import Path
from typing import Dict, List, Set

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / 'README.md'
MAX_README_BYTES = 15000

_FENCE = re.compile(r'^(```|~~~).*?^\1', re.M | re.S)
_COMMENT = re.compile(r'<!--.*?-->', re.S)
_CODE_SPAN = re.compile(r'`[^`\n]*`')
# [text](target) and ![alt](target); the target ends at a space or ')'
_LINK = re.compile(r'!?\[[^\]\n]*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)')
_HEADING = re.compile(r'^#{1,6}\s+(.+?)\s*#*\s*$', re.M)


def _prose(text: str) -> str:
    """Markdown without fenced code, HTML comments and code spans."""
    text = _FENCE.sub('', text)
    text = _COMMENT.sub('', text)
    return _CODE_SPAN.sub('', text)


def links(text: str) -> List[str]:
    """Every link target of a markdown text, outside code and comments."""
    return _LINK.findall(_prose(text))


def slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped,
    spaces to hyphens."""
    heading = re.sub(r'[`*_]|\[([^\]]*)\]\([^)]*\)', r'\1', heading)
    return re.sub(r'[^\w\- ]', '', heading.lower()).replace(' ', '-')


def anchors(text: str) -> Set[str]:
    """The anchors of a markdown file's headings, duplicates numbered."""
    seen: Dict[str, int] = {}
    out = set()
    for heading in _HEADING.findall(_FENCE.sub('', text)):
        base = slug(heading)
        n = seen.get(base, 0)
        seen[base] = n + 1
        out.add(base if n == 0 else f'{base}-{n}')
    return out


def broken_links(md: Path, root: Path) -> List[str]:
    """The relative links of ``md`` that name no file or no heading."""
    bad = []
    for target in links(md.read_text(encoding='utf-8')):
        if re.match(r'^[a-z][a-z0-9+.-]*:', target, re.I):
            continue  # http:, https:, mailto:
        path, _, fragment = target.partition('#')
        dest = (md.parent / path).resolve() if path else md
        if root not in dest.parents and dest != root:
            bad.append(f'{target} (outside the repository)')
        elif not dest.exists():
            bad.append(f'{target} (no such file)')
        elif fragment and dest.suffix == '.md' and fragment not in anchors(
                dest.read_text(encoding='utf-8')):
            bad.append(f'{target} (no heading #{fragment} in {dest.name})')
    return bad


def test_readme_is_short():
    size = len(README.read_bytes())
    assert size <= MAX_README_BYTES, (
        f'README.md is {size} bytes, over {MAX_README_BYTES}: move the '
        'detail to a page under docs/ and link it')


def test_readme_shows_the_two_commands():
    text = README.read_text(encoding='utf-8')
    code = '\n'.join(m.group(0) for m in _FENCE.finditer(text))
    for command in ('make demo', 'make test'):
        found = re.search(rf'^{command}\b', code, re.M)
        assert found, f'README.md shows no `{command}` line in a code block'


@pytest.mark.parametrize(
    'md', [README] + sorted((ROOT / 'docs').glob('*.md')),
    ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(md):
    assert broken_links(md, ROOT) == []


def test_link_checker_finds_broken_links(tmp_path):
    (tmp_path / 'docs').mkdir()
    (tmp_path / 'docs' / 'a.md').write_text(
        "# A page\n\n## The paper's numbers\n", encoding='utf-8')
    md = tmp_path / 'README.md'
    md.write_text(
        '# Title\n\n'
        "[ok](docs/a.md) [ok](docs/a.md#the-papers-numbers) [ok](#title)\n"
        '[gone](docs/b.md) [bad anchor](docs/a.md#numbers) [up](../x.md)\n'
        '![img](docs/missing.png) [web](https://example.org/x.md)\n'
        '`[code](docs/c.md)`\n<!-- [comment](docs/d.md) -->\n'
        '```\n[fenced](docs/e.md)\n```\n',
        encoding='utf-8')
    assert broken_links(md, tmp_path) == [
        'docs/b.md (no such file)',
        'docs/a.md#numbers (no heading #numbers in a.md)',
        '../x.md (outside the repository)',
        'docs/missing.png (no such file)',
    ]


def test_slug_follows_github():
    assert slug("The paper's numbers here") == 'the-papers-numbers-here'
    assert slug('`tools/train.py`') == 'toolstrainpy'
    assert slug('error ... did you mean') == 'error--did-you-mean'
    assert anchors('# A\n## A\n```\n# not a heading\n```\n') == {'a', 'a-1'}
