"""Landlock in a stream's sandbox: named pipes (FIFOs) and symlinks only where the session may make them.

git opens whatever lies at a ref's, a pack index's or a loose object's name without looking at its type (and
follows a symlink there): a FIFO at such a name, or a link to one, hangs every git that reads it, wta's landing
and the person's `git status` alike. So does a FIFO in a worktree at a `.gitignore` or `.gitattributes` (which
git does not follow when it is a link). bubblewrap cannot say "files, but no FIFOs" of a writable directory;
Landlock can: a ruleset that handles only the making of FIFOs and symlinks, granted beneath the places given.

Run inside bwrap as the step before the session's command, by path, standard library only:

    python -I -S landlock.py GRANT:PLACE... -- ARGV

GRANT is `fifo+link` (FIFOs and symlinks beneath PLACE) or `link` (symlinks only); PLACE an absolute path.

It restricts itself, then execs ARGV (the same process: the pid wta tracks is the command's). Outside bwrap it
could not run: a Landlocked process cannot mount. It fails closed: a ruleset that cannot be made, here where
`abi()` outside found Landlock working, starts nothing. `abi()` is what `sandbox` asks beforehand.

The raw syscalls through ctypes (landlock_create_ruleset 444, landlock_add_rule 445, landlock_restrict_self 446:
the same numbers on x86_64 and aarch64), and libc's prctl for NO_NEW_PRIVS, which Landlock requires (bwrap has
set it already).
"""

from __future__ import annotations

import os
import sys

CREATE_RULESET, ADD_RULE, RESTRICT_SELF = 444, 445, 446
CREATE_RULESET_VERSION = 1 << 0          # landlock_create_ruleset's flag: the ABI version, no ruleset
RULE_PATH_BENEATH = 1
MAKE_FIFO, MAKE_SYM, REFER = 1 << 10, 1 << 12, 1 << 13   # LANDLOCK_ACCESS_FS_*
PR_SET_NO_NEW_PRIVS = 38


def abi() -> int:
    """The kernel's Landlock ABI version; 0 where there is none, or it is off, or this is not Linux."""
    if not sys.platform.startswith("linux"):
        return 0
    try:
        import ctypes

        syscall = ctypes.CDLL(None, use_errno=True).syscall
        syscall.restype = ctypes.c_long
        version = syscall(CREATE_RULESET, None, ctypes.c_size_t(0), CREATE_RULESET_VERSION)
    except (OSError, AttributeError):
        return 0
    return max(int(version), 0)


def restrict(places: list[str]) -> None:
    """Make FIFOs and symlinks only beneath `places` (`GRANT:PLACE`; those that are directories), from now on,
    for this process and every process it starts. REFER (a file moved to another directory), which Landlock always
    handles from ABI 2 on, is granted everywhere: bwrap's mounts keep a FIFO made in a place allowed from
    being moved into git's (each such place is a mount of its own: EXDEV)."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    syscall = libc.syscall
    syscall.restype = ctypes.c_long

    class PathBeneath(ctypes.Structure):
        _pack_ = 1
        _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]

    def refused(what: str) -> None:
        sys.exit(f"wta sandbox: cannot restrict named pipes and symlinks ({what}: "
                 f"{os.strerror(ctypes.get_errno())})")

    handled = ctypes.c_uint64(MAKE_FIFO | MAKE_SYM | REFER)
    ruleset = syscall(CREATE_RULESET, ctypes.byref(handled), ctypes.c_size_t(8), 0)
    if ruleset < 0:
        refused("landlock_create_ruleset")
    for grant, _, place in [("", "", "/"), *(p.partition(":") for p in places)]:
        allowed = {"": REFER, "link": MAKE_SYM | REFER, "fifo+link": MAKE_FIFO | MAKE_SYM | REFER}.get(grant)
        if allowed is None or not place.startswith("/"):
            sys.exit(f"wta sandbox: {grant}:{place}: not a place to grant (GRANT:/PATH)")
        try:
            fd = os.open(place, os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError:
            continue   # gone, or not a directory: nothing to grant beneath it
        rule = PathBeneath(allowed, fd)
        if syscall(ADD_RULE, ruleset, RULE_PATH_BENEATH, ctypes.byref(rule), 0) < 0:
            refused(f"landlock_add_rule {place}")
        os.close(fd)
    if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0:
        refused("prctl")
    if syscall(RESTRICT_SELF, ruleset, 0) < 0:
        refused("landlock_restrict_self")
    os.close(ruleset)


def main(argv: list[str]) -> None:
    split = argv.index("--")
    restrict(argv[:split])
    command = argv[split + 1:]
    try:
        os.execvp(command[0], command)
    except OSError as exc:
        sys.exit(f"wta sandbox: {command[0]}: {exc.strerror}")


if __name__ == "__main__":
    main(sys.argv[1:])
