"""The sandbox: every process wta starts for a stream writes only where that stream may.

A stream's session (its whole process tree), its `setup:` commands and the
`test:` run in its worktree go through bubblewrap (`bwrap`): the whole file
system is mounted read-only, then these are mounted writable again:

- the stream's worktree and its private git dir (`<common>/worktrees/<name>/`);
- what `git commit` needs on the stream's own branch: `objects/` (loose objects only: `objects/pack/`
  and `objects/info/` stay read-only), the directory of its ref and the directory of its reflog, where
  every *other* existing entry is bound read-only over itself (git renames `<ref>.lock` over a ref; a
  rename onto a mount point fails, so other refs cannot move);
- `<common>/wta/requests/`, so that `wta request` works from inside a session;
- the system temp dir and the agent's own config and cache under `$HOME`
  (ALLOWED_IN_HOME), and the `sandbox_write:` paths of zones.yaml.

A repository inside the temp dir (a clone under /tmp) keeps that temp dir from
the Landlock grant below; its sandboxed commands get a temp dir of their own
beneath it instead (`with_private_tmp`: TMPDIR, TMP and TEMP), removed when
the command ends.

The repository's own places (the common git dir, the main worktree, every other
worktree) are bound read-only again over any of those that contains them, and
mounts are made parent first, so the most specific path decides. Reads and the
network are not restricted. docs/security.md says what remains open.

Inside, before the command starts, Landlock (LANDLOCK_STEP) lets named pipes
(FIFOs) be made only beneath the temp dirs, the home caches and `sandbox_write:`,
and symlinks there and in the worktree: git opens whatever lies at a ref's, a
pack index's or a loose object's name without looking at its type (following a
symlink), or at a worktree's `.gitignore` or `.gitattributes`, and a FIFO there
hangs it for good.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field

from worktree_agents import layout, programs
from worktree_agents.errors import WtaError

INSTALL_HINT = "install bubblewrap (apt-get install bubblewrap / dnf install bubblewrap / pacman -S bubblewrap)"
MARKER_ENV = "WTA_SANDBOX"   # set inside the sandbox: what confines this process
MARKER_VALUE = "bwrap"
# Set by the first wta process that found bwrap working, for the processes it starts (the
# coordinator, the session wrappers): they skip the probe, a bwrap start less per session.
PROBED_ENV = "WTA_BWRAP_WORKS"


def inside() -> bool:
    """Whether this process runs in a stream's sandbox (a pid namespace of its own, wta's state read-only)."""
    return bool(os.environ.get(MARKER_ENV))

# Under $HOME, the agent's own config and cache (Claude Code's, package managers').
ALLOWED_IN_HOME = programs.SANDBOX_WRITABLE_IN_HOME
# Made when missing, so the agent can use them: a directory that does not exist cannot be bound.
CREATED_IN_HOME = (".claude", ".cache")
# No capabilities, not even for root (bwrap keeps root's by default: it could unmount the read-only
# binds), and a user namespace of its own in which no further one can be made: /proc/<pid>/root of a
# process outside (the wrapper, the user's shell) would otherwise lead to the file system without
# these mounts. The pid namespace stays the user's: wta ends the agent's tree by pid.
BASE_ARGS = ("--unshare-user", "--disable-userns", "--cap-drop", "ALL",
             "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc")
# How often bwrap is started when it could not set the sandbox up (Sandbox.wrap): twice at once,
# then every 0.1 s (32 streams committing at once renamed some pinned ref at every one of ten
# attempts in a row). The shell execs nothing: it waits for bwrap, then passes on its exit status
# ($? is 128+N for a signal). bwrap's report goes to a file whose name is removed as soon as it is
# open (fd 4 writes, fd 5 reads it): nothing is left behind however the shell ends, a session stopped
# with its whole process group included. Its directory ($1) is wta's, which no sandbox can write: in the
# temp dir, which every sandbox writes, an agent had planted a link at that name for every pid, and the
# next sandbox start (outside any sandbox) wrote through it into any file of the user's.
SETUP_RETRIES = 30
RETRY_SCRIPT = f"""status="$1/wta-bwrap-$$"
shift
tries=0
while :; do
    exec 4>"$status" 5<"$status"
    rm -f "$status"
    "$@" 3>&4 4>&- 5<&-
    code=$?
    exec 4>&-
    started=
    while IFS= read -r line || [ -n "$line" ]; do
        case $line in *'"exit-code"'*) started=1 ;; esac
    done <&5
    exec 5<&-
    tries=$((tries + 1))
    if [ -n "$started" ] || [ $tries -ge {SETUP_RETRIES} ]; then
        exit $code
    fi
    [ $tries -lt 2 ] || sleep 0.1
done"""
UNPACK_LIMIT = str(2**31 - 1)
# Inside the sandbox, the step before the command (`python -I -S landlock.py GRANT:PLACE... -- ARGV`, which
# execs ARGV: the same process): named pipes (FIFOs) and symlinks may be made beneath those places only.
LANDLOCK_STEP = os.path.join(os.path.dirname(os.path.abspath(__file__)), "landlock.py")
LANDLOCK_ENV = "WTA_LANDLOCK_ABI"   # the probe's answer, passed on as PROBED_ENV is
# git inside the sandbox: no automatic gc or maintenance (they rewrite packs and refs of every stream).
GIT_CONFIG = (("gc.auto", "0"), ("maintenance.auto", "false"),
              # nor rerere: its cache lies in the shared git dir, read-only here, and a commit that
              # cannot write it fails after it was made (a user's global rerere.enabled)
              ("rerere.enabled", "false"),
              # objects/pack/ is read-only here: what git would write as a pack (a fetch of 100 objects
              # or more, a fast-import, a file above core.bigFileThreshold that `git add` streams) goes
              # loose instead
              ("fetch.unpackLimit", UNPACK_LIMIT), ("transfer.unpackLimit", UNPACK_LIMIT),
              ("fastimport.unpackLimit", UNPACK_LIMIT), ("core.bigFileThreshold", str(sys.maxsize)))


@dataclass(frozen=True)
class Sandbox:
    """The mounts of one stream's sandbox; `wrap(argv)` is the command that runs argv inside it."""

    name = MARKER_VALUE     # what the session record says confines it
    bwrap: str
    stream: str
    writable: tuple[str, ...]
    read_only: tuple[str, ...]
    mounts: tuple[tuple[str, str], ...] = field(default=(), repr=False)  # (bwrap option, path), in order
    common_dir: str = field(default="", repr=False)
    # The interpreter that runs LANDLOCK_STEP inside ("": none, Landlock is missing here), the places
    # beneath which FIFOs and symlinks may be made, and those beneath which symlinks only (the worktree).
    landlock: str = field(default="", repr=False)
    fifo_places: tuple[str, ...] = field(default=(), repr=False)
    link_places: tuple[str, ...] = field(default=(), repr=False)
    # The temp dir its commands use, when the Landlock step cannot grant it (it holds the repository's git
    # dir): `with_private_tmp` makes a directory of their own beneath it, `private_tmp`, granted instead.
    temp_parent: str = field(default="", repr=False)
    private_tmp: str = field(default="", repr=False)

    def refused_shared_config(self, output: bytes) -> bool:
        """Whether a command's output shows git failing to write the repository's shared config, which
        stays read-only here (git names the file it could not lock): husky's install, which sets the
        shared core.hooksPath, does that in a sandboxed `setup:` and then installs nothing."""
        config = {os.path.join(self.common_dir, "config"), os.path.join(os.path.realpath(self.common_dir), "config")}
        pattern = re.compile(b"|".join(re.escape(os.fsencode(c)) for c in config) + rb"(?![\w.])")
        return bool(self.common_dir) and pattern.search(output) is not None

    def wrap(self, argv: list[str], own_pids: bool = False, die_with_parent: bool = False) -> list[str]:
        """`own_pids`: the command, and all it starts, ends with it: it runs in a pid namespace of its own,
        whose other processes the kernel ends when the command (its first process) ends. For sessions, and
        for shell.run's `setup:` and `test:`: nothing they leave running (a daemon that left the process
        group, and the environment wta finds a session's processes by) can go on writing in the worktree
        after them, where wta's own git works next, or reach the user's other processes.
        `die_with_parent`: and it all ends when bwrap's starter does (shell.run's commands, which wta starts
        in a session and process group of their own: no controlling terminal to push keystrokes into with
        TIOCSTI). Not for sessions: a TERM from `wta stop` or the timeout must reach the agent, which may
        still say what it spent, before its namespace goes.

        bwrap is started by a small shell that starts it again when it could not set the sandbox up
        (SETUP_RETRIES): a ref that another stream's git renames over at the moment bwrap binds it
        read-only fails the mount (ENOENT), although nothing is wrong. bwrap reports the command's
        exit on --json-status-fd; a run without that report never started the command.
        Inside, `argv` starts after the Landlock step (LANDLOCK_STEP), which execs it: the same process.
        """
        if self.landlock:
            argv = [self.landlock, "-I", "-S", LANDLOCK_STEP, *(f"fifo+link:{p}" for p in self.fifo_places),
                    *(f"link:{p}" for p in self.link_places), "--", *argv]
        args = [self.bwrap, *BASE_ARGS, *(("--unshare-pid",) if own_pids else ()),
                *(("--die-with-parent",) if die_with_parent else ())]
        for option, path in self.mounts:
            args += [option, path] if option == "--tmpfs" else [option, path, path]
        status = layout.path(layout.state_dir(self.common_dir), layout.SANDBOX_STATUS)
        os.makedirs(status, exist_ok=True)
        return ["/bin/sh", "-c", RETRY_SCRIPT, "wta-sandbox", status, *args, "--json-status-fd", "3", "--", *argv]

    def env(self, base: dict[str, str]) -> dict[str, str]:
        """`base` plus the sandbox's marker and git settings (appended to any GIT_CONFIG_* already set)."""
        env = dict(base)
        try:
            count = int(env.get("GIT_CONFIG_COUNT", "0"))
        except ValueError:
            count = 0
        for key, value in GIT_CONFIG:
            env[f"GIT_CONFIG_KEY_{count}"], env[f"GIT_CONFIG_VALUE_{count}"] = key, value
            count += 1
        env["GIT_CONFIG_COUNT"] = str(count)
        env[MARKER_ENV] = MARKER_VALUE
        if self.private_tmp:
            for name in TEMP_VARIABLES:
                env[name] = self.private_tmp
        return env


TEMP_VARIABLES = ("TMPDIR", "TMP", "TEMP")


def with_private_tmp(box: Sandbox) -> Sandbox:
    """`box` with a temp dir of its own, when its temp dir holds the repository's git dir (a clone under /tmp):
    Landlock grants a whole tree, so that temp dir is not granted, and a sandboxed command could make no FIFO
    or symlink in it (`python3 -m venv /tmp/v`, make's jobserver FIFO). The directory is made here, private
    (tempfile.mkdtemp: mode 0700) beneath that temp dir, granted FIFOs and symlinks, and named by TMPDIR, TMP and
    TEMP (`Sandbox.env`); `remove_private_tmp` removes it when the command has ended. Else `box` itself."""
    if not box.temp_parent or box.private_tmp or not os.path.isdir(box.temp_parent):
        return box
    path = os.path.realpath(tempfile.mkdtemp(prefix="wta-sandbox-", dir=box.temp_parent))
    return dataclasses.replace(box, private_tmp=path, fifo_places=(*box.fifo_places, path))


def remove_private_tmp(box: Sandbox | None) -> None:
    """Remove the temp dir `with_private_tmp` made for `box`, once the command in it has ended (its pid
    namespace with it). shutil.rmtree follows no symlink an agent left there, nor one put in the directory's
    place (it checks what it opened is what it found); what it cannot remove stays."""
    if box is not None and box.private_tmp:
        shutil.rmtree(box.private_tmp, ignore_errors=True)


_probed: dict[str, str | None] = {}


def bwrap() -> str | None:
    """The bwrap executable, if it is on PATH (outside every sandbox's reach: `programs.find`) and can make a
    sandbox here (user namespaces allowed)."""
    found = _find_bwrap()
    if found is None:
        return None
    if os.environ.get(PROBED_ENV) == found:
        return found
    if found not in _probed:
        try:
            ok = subprocess.run([found, *BASE_ARGS, "--", "true"], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, timeout=30).returncode == 0
        except (OSError, subprocess.TimeoutExpired):
            ok = False
        _probed[found] = found if ok else None
        if ok:
            os.environ[PROBED_ENV] = found
    return _probed[found]


_landlock: list[int] = []


def landlock_abi() -> int:
    """The kernel's Landlock ABI version, 0 where there is none (or it is off): what the sandbox needs to keep
    FIFOs out of git's places. Version 2 at least (Linux 5.19): in version 1, a Landlocked process can move
    no file to another directory at all. Asked once per process (ctypes, only here: the hooks never ask),
    and passed on to the processes it starts (LANDLOCK_ENV)."""
    if not _landlock:
        known = os.environ.get(LANDLOCK_ENV, "")
        if known.isdigit():
            _landlock.append(int(known))
        else:
            from worktree_agents import landlock

            _landlock.append(landlock.abi())
            os.environ[LANDLOCK_ENV] = str(_landlock[0])
    return _landlock[0]


def fifo_reason() -> str | None:
    """What the sandbox does not enforce here, for want of Landlock (None: all of it is)."""
    version = landlock_abi()
    if version >= 2:
        return None
    missing = "this kernel's Landlock is version 1" if version == 1 else "this kernel has no Landlock (or it is off)"
    return (f"{missing}: the sandbox cannot keep named pipes (FIFOs) and symlinks out of git's files, and a FIFO "
            "there hangs every git that reads it; `find .git -type p -delete` ends the hang")


_found: dict[tuple, str | None] = {}


def _find_bwrap() -> str | None:
    """`programs.find("bwrap")`, looked for once per PATH (and the places a sandbox may write, which the
    temp dir variables and the home folder decide): each session's launch asks, and the look resolves
    every directory on PATH."""
    key = (os.getcwd(), *(os.environ.get(name) for name in ("PATH", "HOME", "TMPDIR", "TEMP", "TMP")))
    found = _found.get(key)
    if found is None or not os.access(found, os.X_OK):   # (not found, or gone since)
        found = _found[key] = programs.find("bwrap")
    return found


def unavailable_reason() -> str:
    found = programs.find("bwrap")
    if found is None:
        return f"bubblewrap (bwrap) is not on PATH; {INSTALL_HINT}"
    return f"{found} cannot create a sandbox here (are unprivileged user namespaces disabled?)"


def require(mode: str, config_file: str) -> str | None:
    """The bwrap to use under `sandbox: mode`, or None (off, or auto where there is none).

    `required` without a working bwrap is a configuration error naming what to install.
    """
    if mode == "off":
        return None
    found = bwrap()
    if found is None and mode == "required":
        raise WtaError(f"{config_file}: sandbox: required, but {unavailable_reason()}; "
                       "or set `sandbox: auto` to run unsandboxed where it is missing")
    return found


def for_stream(bwrap_path: str, common_dir: str, stream: str, worktree: str, branch: str,
               extra_writable: list[str] = (), extra_read_only: list[str] = ()) -> Sandbox:
    """The sandbox of `stream`, whose worktree is `worktree` and whose branch is `branch` (short name).

    `extra_read_only`: more places to keep read-only, unless one holds a path allowed for writing
    (the temp dir, the home caches, `extra_writable`), which it would hide.
    """
    common = os.path.realpath(common_dir)
    worktree = os.path.realpath(worktree)
    private = private_git_dir(worktree)
    ref_name = f"refs/heads/{branch}"
    ref_file = os.path.join(common, *ref_name.split("/"))
    log_file = os.path.join(common, "logs", *ref_name.split("/"))
    requests = layout.path(layout.state_dir(common), layout.REQUESTS)
    make_loose(common, os.path.dirname(ref_name))
    for directory in (os.path.dirname(ref_file), os.path.dirname(log_file), requests):
        os.makedirs(directory, exist_ok=True)

    writable: list[str] = [*temp_dirs(), *home_allowed(), *(os.path.realpath(os.path.expanduser(p))
                                                          for p in extra_writable if os.path.exists(os.path.expanduser(p)))]
    protected: list[str] = [common, *worktrees_of(common)]
    for path in [*map(os.path.realpath, extra_read_only), *_wta_code_real()]:
        if not any(w == path or w.startswith(path.rstrip("/") + "/") for w in writable):
            protected.append(path)
    own: list[str] = [worktree, os.path.join(common, "objects"), os.path.dirname(ref_file),
                      os.path.dirname(log_file), requests]
    if private:
        own.append(private)
    # Inside the writable places of git: everything that is not the stream's own stays as it is.
    pinned: list[str] = []
    for directory, mine in ((os.path.dirname(ref_file), ref_file), (os.path.dirname(log_file), log_file)):
        pinned += [e.path for e in os.scandir(directory) if e.path != mine and not e.name.endswith(".lock")]
    # objects/pack as a whole: git looks an object up in the packs before the loose files, so a pack
    # of the agent's making (or a multi-pack-index) would shadow the base's objects with other content;
    # the packs wta writes at landings shadow the loose ones an agent could write over (git.keep_packed).
    # objects/info: `alternates` there would add object stores of the agent's making.
    for directory in ("pack", "info"):
        os.makedirs(os.path.join(common, "objects", directory), exist_ok=True)
        pinned.append(os.path.join(common, "objects", directory))
    # What wta's own git commands outside the sandbox read from this worktree (the leftovers commit,
    # the merge's rebase, `wta status`): where its git dir is, its per-worktree config (core.fsmonitor
    # and core.hooksPath run commands) and a hooks directory inside the worktree.
    pinned += [os.path.join(worktree, ".git"), *worktree_hooks(common, worktree)]
    if private:
        worktree_config = os.path.join(private, "config.worktree")
        if not os.path.lexists(worktree_config):
            open(worktree_config, "a").close()  # empty: the same as none, and now it can be pinned
        pinned += [layout.stream_file(private), os.path.join(private, "commondir"),
                   os.path.join(private, "gitdir"), worktree_config]

    order = []  # (depth, rank, option, path): a parent before its children; at one path, the later rank wins
    for rank, (option, paths) in enumerate((("--bind", writable), ("--ro-bind", protected),
                                            ("--bind", own), ("--ro-bind", pinned),
                                            ("--tmpfs", multiplexer_sockets()))):
        for path in paths:
            if os.path.lexists(path) and (rank != 1 or path != worktree):
                order.append((path.rstrip("/").count("/"), rank, option, path))
    order.sort(key=lambda m: (m[0], m[1]))
    mounts = tuple((option, path) for _, _, option, path in order)
    landlock = sys.executable if fifo_reason() is None else ""
    granted = fifo_places(writable, common)
    temp = os.path.realpath(next((os.environ[n] for n in TEMP_VARIABLES if os.environ.get(n)), "/tmp"))
    return Sandbox(bwrap_path, stream, tuple(writable + own),
                   tuple(p for _, _, o, p in order if o.startswith("--ro-bind")), mounts, common_dir,
                   landlock=landlock, fifo_places=tuple(granted),
                   # (not FIFOs in the worktree: git opens a `.gitignore` or `.gitattributes` there as it opens a
                   # ref, wta's own git outside the sandbox too, and a FIFO hung `wta status` and the landing)
                   link_places=tuple(fifo_places([worktree], common)),
                   temp_parent=temp if landlock and temp in writable and temp not in granted else "")


def fifo_places(places: list[str], common: str) -> list[str]:
    """Where a sandbox may make FIFOs and symlinks: the writable `places` that neither hold the repository's
    git dir nor lie in it. Landlock grants beneath a directory, with no exception below it: a temp dir that
    holds the repository (a scratch clone under /tmp) would grant its refs, its objects and its worktrees'
    private git dirs too."""
    inner = common.rstrip("/") + "/"
    return [p for p in dict.fromkeys(places)
            if not (inner.startswith(p.rstrip("/") + "/") or (p.rstrip("/") + "/").startswith(inner))]


def multiplexer_sockets() -> list[str]:
    """Where tmux and screen keep the sockets of their servers, which run outside any sandbox: a sandboxed
    process that reached one ran commands there unsandboxed (`tmux new-window CMD`, through the server of
    an interactive session, or the user's own). Hidden behind an empty tmpfs in every sandbox (a socket on
    a read-only mount still takes connections); tmux's own made when missing, so that a server started
    later is hidden too."""
    import getpass

    uid = os.getuid()
    tmux = {os.path.realpath(os.path.join(base, f"tmux-{uid}"))
            for base in {os.environ.get("TMUX_TMPDIR") or "/tmp", "/tmp"}}
    for directory in tmux:
        try:
            os.makedirs(directory, mode=0o700, exist_ok=True)
        except OSError:
            pass
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = ""
    screen = {os.path.realpath(os.path.join(d, f"S-{user}"))
              for d in ("/run/screen", "/var/run/screen", "/tmp/screens")} if user else set()
    return sorted(d for d in tmux | screen if os.path.isdir(d))


def wta_code() -> list[str]:
    """Where the code wta runs outside any sandbox comes from: its package, the libraries it imports, the
    standard library and the interpreter, as named (a venv's `bin/python`, which wta and its hooks start,
    and its `wta` script) and as it really is, and the environment it runs in (a venv's root, its
    pyvenv.cfg). Read-only in the sandbox, wherever it is installed (a tool cache in the home folder, /tmp),
    so that no agent can change what its next command runs: a venv under ~/.cache had its `bin/` left
    writable, and an agent swapped the interpreter that the next `wta status` and the hooks ran."""
    from worktree_agents import interpreter

    return [interpreter.PACKAGE_DIR, *interpreter.import_dirs(), os.path.dirname(os.__file__),
            os.path.dirname(os.path.realpath(sys.executable)), os.path.dirname(os.path.abspath(sys.executable)),
            sys.prefix]


_code_real: dict[tuple, list[str]] = {}


def _wta_code_real() -> list[str]:
    """`wta_code()` as real paths, worked out once per process (and import path): every session's sandbox
    pins them, and resolving a dozen paths, component by component, was a third of a sandbox's making."""
    key = (sys.executable, sys.prefix, *sys.path)
    if key not in _code_real:
        _code_real[key] = [os.path.realpath(p) for p in wta_code()]
    return _code_real[key]


def worktree_hooks(common_dir: str, worktree: str) -> list[str]:
    """The repository's hooks directory inside this worktree, when the shared core.hooksPath is a
    relative path below its top (husky's `.husky/_`): wta's hooks run the hooks there at the stream's
    commits. Not the top itself (`.`: pinning it would pin the whole worktree)."""
    from worktree_agents.hooks.hooks_path import in_each_worktree, shared_hooks_path

    value = shared_hooks_path(common_dir)
    if not in_each_worktree(value):
        return []
    return [os.path.realpath(os.path.join(worktree, value))]


def private_git_dir(worktree: str) -> str | None:
    """A linked worktree's private git dir, from its `.git` file (None for a main worktree)."""
    try:
        with open(os.path.join(worktree, ".git"), encoding="utf-8") as f:
            line = f.readline().strip()
    except (IsADirectoryError, FileNotFoundError, NotADirectoryError):
        return None
    if not line.startswith("gitdir:"):
        return None
    return os.path.realpath(os.path.join(worktree, line[len("gitdir:"):].strip()))


def worktrees_of(common: str) -> list[str]:
    """Every worktree of the repository: the main one (the common dir's parent, unless bare) and each linked one."""
    found = []
    if os.path.basename(common) == ".git":
        found.append(os.path.dirname(common))
    admin = os.path.join(common, "worktrees")
    try:
        names = os.listdir(admin)
    except FileNotFoundError:
        names = []
    for name in names:
        try:
            with open(os.path.join(admin, name, "gitdir"), encoding="utf-8") as f:
                dot_git = f.read().strip()
        except OSError:
            continue
        found.append(os.path.realpath(os.path.dirname(dot_git)))
    return found


def temp_dirs() -> list[str]:
    return [d for d in programs.temp_dirs() if os.path.isdir(d)]


def home_allowed() -> list[str]:
    home = os.path.expanduser("~")
    if not home or home == "/" or not os.path.isdir(home):
        return []
    for name in CREATED_IN_HOME:
        try:
            os.makedirs(os.path.join(home, name), exist_ok=True)
        except OSError:
            pass
    return [os.path.realpath(os.path.join(home, name)) for name in ALLOWED_IN_HOME
            if os.path.lexists(os.path.join(home, name))]


def make_loose(common: str, ref_dir: str) -> None:
    """Give every packed ref under `ref_dir` (e.g. refs/heads/wta) a loose file with the same value.

    In the sandbox the ref directory is writable and its existing entries are
    pinned; a ref only in packed-refs has no entry to pin, and a loose file
    created beside it would override it. Written as git writes a ref: under
    `<ref>.lock`, which also keeps git from updating that ref meanwhile.
    """
    prefix = ref_dir.rstrip("/") + "/"
    try:
        with open(os.path.join(common, "packed-refs"), encoding="utf-8", errors="surrogateescape") as f:
            lines = f.read().splitlines()
    except FileNotFoundError:
        return
    for line in lines:
        sha, _, name = line.partition(" ")
        if not name.startswith(prefix) or line.startswith(("#", "^")):
            continue
        path = os.path.join(common, *name.split("/"))
        if os.path.lexists(path):
            continue
        os.makedirs(os.path.dirname(path), exist_ok=True)
        lock = path + ".lock"
        try:
            fd = os.open(lock, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            continue  # git is updating it: it writes a loose file itself
        try:
            os.write(fd, f"{sha}\n".encode())
        finally:
            os.close(fd)
        if os.path.lexists(path):
            os.unlink(lock)
        else:
            os.rename(lock, path)


def for_config(config, main: str, common_dir: str, stream: str, worktree: str,
               config_file: str = "zones.yaml") -> Sandbox | None:
    """The sandbox of `stream` as zones.yaml's `sandbox:` decides: None when off, or auto without bwrap.

    Besides the worktrees that exist, the directories that will hold the other streams' worktrees
    (from the `worktrees:` template) are read-only: `wta up` makes worktrees while others run `setup:`.
    """
    found = require(config.sandbox, config_file)
    if found is None:
        return None
    others = [config.worktree_for(main, s) for s in config.streams if s != stream]
    return for_stream(found, common_dir, stream, worktree, config.branch_for(stream), config.sandbox_write,
                      [*others, *{os.path.dirname(p) for p in others}])


def shell(sandbox: Sandbox | None, command: str) -> list[str]:
    """The argv that runs a shell command, inside `sandbox` if there is one."""
    argv = ["/bin/sh", "-c", command]
    return sandbox.wrap(argv, own_pids=True, die_with_parent=True) if sandbox else argv
