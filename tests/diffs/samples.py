"""Diffs the diffs tests share: real git, format-patch and GNU diff output, and patch builders."""

from __future__ import annotations

from acme_ci_budget.diffs.change import FileChange
from acme_ci_budget.diffs.parse import parse_unified_diff

# Produced by `git diff --cached -M` (git 2.39) on a scratch repository. <TAB> stands for the tab git
# puts after a file name that contains a space; the octal escapes are git's quoting of "café.md".
GIT_DIFF = r"""diff --git "a/caf\303\251.md" "b/caf\303\251.md"
index 1cd909e..0df425e 100644
--- "a/caf\303\251.md"
+++ "b/caf\303\251.md"
@@ -1 +1 @@
-bonjour
+bonjour!
diff --git a/gone.txt b/gone.txt
deleted file mode 100644
index de98044..0000000
--- a/gone.txt
+++ /dev/null
@@ -1,3 +0,0 @@
-a
-b
-c
diff --git a/logo.png b/logo.png
index c866266..5663091 100644
Binary files a/logo.png and b/logo.png differ
diff --git a/my file.txt b/my file.txt
index ce01362..3b18e51 100644
--- a/my file.txt<TAB>
+++ b/my file.txt<TAB>
@@ -1 +1 @@
-hello
+hello world
diff --git a/noeol.txt b/noeol.txt
index 1b32298..6e94b48 100644
--- a/noeol.txt
+++ b/noeol.txt
@@ -1,2 +1,2 @@
 x
-y
\ No newline at end of file
+z
\ No newline at end of file
diff --git a/run.sh b/run.sh
old mode 100644
new mode 100755
diff --git a/src/app.py b/src/app.py
index bab081f..1860470 100644
--- a/src/app.py
+++ b/src/app.py
@@ -1,8 +1,9 @@
 line 1
 line 2
-line 3
+line 3 changed
 line 4
 line 5
+inserted
 line 6
 line 7
 line 8
@@ -27,14 +28,13 @@ line 26
 line 27
 line 28
 line 29
-line 30
 line 31
 line 32
 line 33
 line 34
 line 35
 line 36
-line 37
+line 38 changed
 line 38
 line 39
 line 40
diff --git a/src/auth/new.py b/src/auth/new.py
new file mode 100644
index 0000000..8740298
--- /dev/null
+++ b/src/auth/new.py
@@ -0,0 +1,3 @@
+import os
+
+TOKEN = os.environ['T']
diff --git a/src/old_name.py b/src/new_name.py
similarity index 93%
rename from src/old_name.py
rename to src/new_name.py
index 34dceb9..5262d54 100644
--- a/src/old_name.py
+++ b/src/new_name.py
@@ -5,7 +5,7 @@ def f1():
 def f2():
     return 2
 def f3():
-    return 3
+    return 33
 def f4():
     return 4
 def f5():
""".replace("<TAB>", "\t")

# `git format-patch --binary` of a commit with a binary new file, an empty new file and a pure rename.
FORMAT_PATCH = r"""From 9b5ffbaecd5803d3d5c5d2ffff90e0d79d1c6453 Mon Sep 17 00:00:00 2001
From: t <a@b>
Date: Sun, 29 Nov 2026 01:11:01 +0000
Subject: [PATCH] three

---
 data.bin                  | Bin 0 -> 3 bytes
 empty.py                  |   0
 run.sh => scripts_run.sh  |   0
 3 files changed, 0 insertions(+), 0 deletions(-)

diff --git a/data.bin b/data.bin
new file mode 100644
index 0000000000000000000000000000000000000000..8352675d67aed6625ece79af41c27fdb4ee2e867
GIT binary patch
literal 3
KcmZQzWC8#H2LJ>B

literal 0
HcmV?d00001

diff --git a/empty.py b/empty.py
new file mode 100644
index 0000000..e69de29
diff --git a/run.sh b/scripts_run.sh
similarity index 100%
rename from run.sh
rename to scripts_run.sh
--
2.39.5

""".replace("\n--\n2.39", "\n-- \n2.39")

# `diff -ruN old new` (GNU diffutils): no git header, timestamps after a tab, and -N shows the
# missing side of a new file as an empty file rather than /dev/null.
PLAIN_DIFF = """diff -ruN old/added.txt new/added.txt
--- old/added.txt\t1970-01-01 00:00:00.000000000 +0000
+++ new/added.txt\t2026-11-29 01:12:53.497154012 +0000
@@ -0,0 +1 @@
+n
diff -ruN old/f.txt new/f.txt
--- old/f.txt\t2026-11-29 01:12:53.497154012 +0000
+++ new/f.txt\t2026-11-29 01:12:53.497154012 +0000
@@ -1,3 +1,3 @@
 a
-b
+B
 c
"""

APP_PATCH = parse_unified_diff(GIT_DIFF)[6].patch


def by_path(files: list[FileChange]) -> dict[str, FileChange]:
    return {f.path: f for f in files}


def make_patch(hunks: list[list[str]], start: int = 1) -> str:
    """A valid patch from hunks given as body lines (' x', '+x', '-x'); headers are computed."""
    out: list[str] = []
    old_line = new_line = start
    for body in hunks:
        old_len = sum(1 for line in body if line[0] in " -")
        new_len = sum(1 for line in body if line[0] in " +")
        out.append(f"@@ -{old_line},{old_len} +{new_line},{new_len} @@")
        out.extend(body)
        old_line += old_len + 10
        new_line += new_len + 10
    return "\n".join(out)


def change(path: str, hunks: list[list[str]], status: str = "modified", **kw: object) -> FileChange:
    patch = make_patch(hunks)
    adds = sum(1 for h in hunks for line in h if line.startswith("+"))
    dels = sum(1 for h in hunks for line in h if line.startswith("-"))
    return FileChange(path, status, adds, dels, patch, **kw)  # type: ignore[arg-type]


def added_file(path: str, n_lines: int, width: int = 30) -> FileChange:
    return change(path, [[f"+{'x' * width} {i}" for i in range(n_lines)]], status="added")
