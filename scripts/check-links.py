#!/usr/bin/env python3
"""Checks the repository's Markdown links (run by ctest as docs_links).

    scripts/check-links.py [REPO_ROOT]
    scripts/check-links.py --self-test     # shows that each kind of broken link fails

Fails (exit 1, one line per problem) when:
  - a relative link or image in a checked Markdown file names a path that does not exist in
    the repository, or one outside it;
  - a link's #fragment names no heading of the file it points to (GitHub's anchor rules);
  - any text file of the repository names a path into a sibling `shared` directory or its
    `docs` folder (documents that live outside a clone).
External links (http:, https:, mailto:) are not fetched.
"""
import re
import subprocess
import sys
from pathlib import Path

# README.md, config/README.md, bench/README.md, docs/*.md, examples/*/README.md, ...
CHECKED_GLOBS = ["*.md", "docs/*.md", "*/README.md", "*/*/README.md"]
SKIPPED_DIRS = {".git", "node_modules"}
INLINE_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
REFERENCE_DEF = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)", re.M)
FENCE = re.compile(r"^(```|~~~).*?^\1", re.M | re.S)
INLINE_CODE = re.compile(r"`+[^`\n]*`+")
# Spelt in pieces so that this file does not match its own pattern (nor a grep for it).
OUTSIDE_DIR = "shar" "ed"
OUTSIDE_DOCS = re.compile(r"\.\./" + OUTSIDE_DIR + "|" + OUTSIDE_DIR + "/docs")


def skipped(path, root):
    parts = path.relative_to(root).parts
    return any(part in SKIPPED_DIRS or part.startswith("build") for part in parts[:-1])


def github_anchor(heading, seen):
    """GitHub's heading id: lower case, punctuation dropped, spaces to hyphens, -N for repeats."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link keeps its text
    text = re.sub(r"[^\w\- ]", "", text.strip().lower())
    anchor = text.replace(" ", "-")
    count = seen.get(anchor, 0)
    seen[anchor] = count + 1
    return anchor if count == 0 else f"{anchor}-{count}"


def anchors_of(path, cache):
    if path not in cache:
        seen = {}
        body = FENCE.sub("", path.read_text(encoding="utf-8"))
        cache[path] = {github_anchor(m.group(2), seen) for m in re.finditer(r"^(#{1,6})\s+(.+?)\s*#*\s*$", body, re.M)}
    return cache[path]


def link_targets(text):
    body = INLINE_CODE.sub("", FENCE.sub("", text))
    for match in INLINE_LINK.finditer(body):
        yield match.group(1)
    for match in REFERENCE_DEF.finditer(body):
        yield match.group(1)


def check_links(root):
    problems, cache = [], {}
    files = sorted({p for pattern in CHECKED_GLOBS for p in root.glob(pattern) if not skipped(p, root)})
    for md in files:
        for target in link_targets(md.read_text(encoding="utf-8")):
            if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I):  # http:, https:, mailto: ...
                continue
            path_part, _, fragment = target.partition("#")
            resolved = (md.parent / path_part).resolve() if path_part else md
            where = f"{md.relative_to(root)}: link '{target}'"
            if root not in resolved.parents and resolved != root:
                problems.append(f"{where} points outside the repository")
            elif not resolved.exists():
                problems.append(f"{where}: no such file {resolved.relative_to(root)}")
            elif fragment and resolved.suffix == ".md" and fragment not in anchors_of(resolved, cache):
                problems.append(f"{where}: no heading with anchor #{fragment} in {resolved.relative_to(root)}")
    return problems, len(files)


def repository_files(root):
    try:
        listed = subprocess.run(["git", "-C", str(root), "ls-files", "--cached", "--others", "--exclude-standard"],
                                check=True, capture_output=True, text=True).stdout.splitlines()
        return [root / name for name in listed]
    except (OSError, subprocess.CalledProcessError):  # not a git checkout: walk the tree
        return [p for p in root.rglob("*") if p.is_file() and not skipped(p, root)]


def check_outside_docs(root):
    problems = []
    for path in repository_files(root):
        if not path.is_file():
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue  # binary files (corpora, screenshots)
        for number, line in enumerate(text.splitlines(), 1):
            if OUTSIDE_DOCS.search(line):
                problems.append(f"{path.relative_to(root)}:{number}: names a document outside the repository: {line.strip()}")
    return problems


def self_test():
    """Each broken case must be reported, the good ones must not: a check that cannot fail proves nothing."""
    import tempfile
    cases = {
        "good": ({"README.md": "[a](docs/a.md#two-words) [b](#top) ![i](docs/i.png) [x](https://x.example/y)\n# Top\n",
                  "docs/a.md": "## Two words\n```\n[not a link](missing.md)\n```\n", "docs/i.png": ""}, 0),
        "missing file": ({"README.md": "see [it](docs/missing.md)\n"}, 1),
        "missing anchor": ({"README.md": "[a](docs/a.md#nope)\n", "docs/a.md": "# Yes\n"}, 1),
        "outside the repository": ({"README.md": "[up](../README.md)\n"}, 1),
        "outside docs named": ({"README.md": "ok\n", "src/x.cpp": f"// see ../{OUTSIDE_DIR}/docs/design.md\n"}, 1),
        "broken in docs/": ({"README.md": "ok\n", "docs/a.md": "[b](b.md)\n"}, 1),
    }
    failed = 0
    for name, (files, expected) in cases.items():
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp).resolve() / "repo"
            for relative, text in files.items():
                (root / relative).parent.mkdir(parents=True, exist_ok=True)
                (root / relative).write_text(text, encoding="utf-8")
            link_problems, _ = check_links(root)
            found = len(link_problems + check_outside_docs(root))
            if (found > 0) != (expected > 0):
                print(f"self-test '{name}': expected {'a problem' if expected else 'none'}, found {found}")
                failed += 1
    print(f"check-links self-test: {len(cases) - failed}/{len(cases)} cases right")
    return 1 if failed else 0


def main():
    if sys.argv[1:] == ["--self-test"]:
        return self_test()
    root = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).resolve().parent.parent).resolve()
    link_problems, checked = check_links(root)
    problems = link_problems + check_outside_docs(root)
    for problem in problems:
        print(problem)
    if problems:
        print(f"check-links: {len(problems)} problem(s)")
        return 1
    print(f"check-links: {checked} Markdown files, every relative link resolves")
    return 0


if __name__ == "__main__":
    sys.exit(main())
