"""wta's git hooks: a hooks directory of its own that only stream worktrees use.

wta never writes its hooks into the hooks directory the repository uses
(`.git/hooks`, or the shared `core.hooksPath` of husky, lefthook, the pre-commit
framework or a committed `.githooks/`): those belong to the user and their hook
manager (whose hook, written into wta's directory from a stream worktree, goes
there: `_move_foreign_hooks`).
Instead each stream worktree gets its own `core.hooksPath` (git's per-worktree
config, `extensions.worktreeConfig`) pointing at `<common git dir>/wta/hooks/` (layout.py).
The hooks there run wta's zone check (pre-commit) and `[stream]` prefix
(commit-msg), then start the hook the repository would have run without wta
under its own path, so that husky's helper, which picks the user's hook by the
name it was started as, finds it, and then check again what that hook left (a
file it staged, a subject it rewrote). Every other hook name is forwarded as is.
The main worktree is never given a per-worktree config.

A relative shared core.hooksPath (husky's `.husky/_`) names a directory in each
worktree, which the manager generates where it is installed: in the main
worktree, but not in a stream worktree whose `setup:` ran in the sandbox (the
shared config, which husky's install writes first, is read-only there). Such
a directory is copied from the main worktree (`copy_repository_hooks`), so that
the repository's hooks run in stream worktrees too.

A manager run later cannot take the check away by rewriting the shared hooks
or the shared core.hooksPath; what can (a `git config --worktree
core.hooksPath` in a stream worktree, `lefthook install` there, which writes
into wta's directory) is seen by `zone_check_installed`, and `install` puts
it back.
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import shutil
import sys
from dataclasses import dataclass, field

from worktree_agents import git, interpreter, layout
from worktree_agents.files import resolves_inside, write_atomic
from worktree_agents.hooks.hooks_path import (hooks_path_in, in_each_worktree, remember_hooks_path, same_dir,
                                               shared_hooks_path, system_configs)
from worktree_agents.hooks.runtime import HOOK_ENV
from worktree_agents.worktrees.registry import worktree_git_dir
from worktree_agents.zones.in_force import FAST_HEADER
from worktree_agents.zones.ownership import RULE_FILES

# The hooks that run wta's own part, before and after the repository's (pre-merge-commit: pre-commit's
# for a merge git commits without stopping).
CHECKED = ("pre-commit", "commit-msg", "pre-merge-commit")
# Every other hook git runs in a worktree for what a user does, forwarded to the repository's
# own hook (the list husky installs, plus the rarer ones): a link to FORWARD. reference-transaction
# and post-index-change are left out: git runs them on every ref or index update, wta's included.
FORWARDED = ("applypatch-msg", "pre-applypatch", "post-applypatch", "prepare-commit-msg",
             "post-commit", "pre-rebase", "post-checkout", "post-merge", "pre-push", "post-rewrite",
             "pre-auto-gc", "sendemail-validate", "p4-changelist", "p4-prepare-changelist",
             "p4-post-changelist", "p4-pre-submit")
HOOK_NAMES = CHECKED + FORWARDED
# Run on every commit: linked only while the repository has them (wta's hooks link one that
# appears later the first time they see it), so that a commit pays nothing for a hook that is not there.
ON_EVERY_COMMIT = ("prepare-commit-msg", "post-commit")
FORWARD = "forward"                      # the forwarder, which takes its hook's name from the link git ran
MARKER = "# wta-managed-hook"
LEGACY_SUFFIX = ".wta-orig"              # where an earlier wta kept a hook it displaced

# How a hook starts the repository's own once wta's part is done. Where wta has nothing more to do,
# by exec. In pre-commit and commit-msg, as a child, after which wta's part runs again on what it
# left (a file it staged, a subject it rewrote): what git commits is what wta checked. Only the
# repository's hook sees HOOK_ENV.
START = f'{HOOK_ENV}="$name:$git_dir"\nexport {HOOK_ENV}\nexec "$hook" "$@"'
START_CHECKED = f'{HOOK_ENV}="$name:$git_dir" "$hook" "$@" || exit\nhook=\n[ -z "$in_stream" ] || wta_check "$@"'

# The hook scripts: shell templates (`str.format` fields, `{{` for a brace), packaged beside this module.
_HERE = os.path.dirname(os.path.abspath(__file__))
TEMPLATE = os.path.join(_HERE, "hook-tmpl")          # every hook: start the repository's own
CHECK_TEMPLATE = os.path.join(_HERE, "check-tmpl")   # before that, in pre-commit and commit-msg
CHECKS = {name: os.path.join(_HERE, f"{name}-check") for name in CHECKED}
SYNC_TEMPLATE = os.path.join(_HERE, "sync-tmpl")     # in every hook: links for ON_EVERY_COMMIT hooks

_PURPOSE = {
    "pre-commit": "In a stream worktree: refuse staged changes outside the stream's zone; then the repository's "
                  "own pre-commit hook, and the check again on what it staged.",
    "commit-msg": "In a stream worktree: the [stream] prefix; then the repository's own commit-msg hook, and the "
                  "prefix again if it took it away.",
    "pre-merge-commit": "In a stream worktree: refuse a merge that brings in changes outside the stream's zone "
                        "that the base does not have; then the repository's own pre-merge-commit hook.",
    FORWARD: "Linked as each other hook the repository has: runs the repository's own hook of that name.",
}

# The hook's Python (interpreter.code): wta's directory after the standard library, and not the
# worktree (the current directory), so that nothing in the repository shadows a module. A hook lives
# for a moment: the cyclic garbage collector would only slow down parsing a large commit, and `run`
# ends it without the interpreter's clean-up.
_LAUNCHER = interpreter.code("worktree_agents.hooks.runtime", "run", libraries=False, collect=False)


def hook_script(name: str, common_dir: str, python: str = sys.executable) -> str:
    """wta's hook `name` (a CHECKED one, or FORWARD) for the repository whose common git dir is `common_dir`."""
    check = sync = ""
    if name in CHECKED:
        check = _read(CHECK_TEMPLATE).format(
            python=shlex.quote(python), package_dir=shlex.quote(interpreter.PACKAGE_DIR),
            launcher=shlex.quote(_LAUNCHER),
            body=_read(CHECKS[name]).format(
                common=shlex.quote(common_dir), staged=git.staged_names_shell(), fast_header=shlex.quote(FAST_HEADER),
                fast=shlex.quote(layout.path(layout.state_dir(common_dir), layout.ZONES_FAST)),
                rule_files="|".join(f"*/{name}" for name in RULE_FILES)))
    sync = _read(SYNC_TEMPLATE).format(forwarded="|".join(ON_EVERY_COMMIT))
    return _read(TEMPLATE).format(
        marker=MARKER, label=name, name=name if name in CHECKED else "${0##*/}", env=HOOK_ENV, check=check,
        start=START_CHECKED if name in CHECKED else START,
        sync=sync, purpose=_PURPOSE[name], default_hooks=shlex.quote(os.path.join(common_dir, "hooks")),
        config_files=" ".join(shlex.quote(f) for f in (os.path.join(common_dir, "config"), *system_configs())))


def guard_command(stream: str, python: str = sys.executable) -> str:
    """The shell command to register as Claude Code's PreToolUse hook: `wta guard`
    started like the git hooks, so files in the worktree cannot shadow its modules
    (`python -m` would put the worktree first on sys.path)."""
    return shlex.join([python, "-S", "-c", _LAUNCHER,
                       "guard", "--stream", stream])


def hooks_dir(common_dir: str) -> str:
    """wta's own hooks directory, which stream worktrees' core.hooksPath names."""
    return layout.path(layout.state_dir(common_dir), layout.HOOKS)


def is_ours(path: str) -> bool:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return MARKER in f.read(4096)
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        return False


@dataclass
class HookReport:
    directory: str
    written: list[str] = field(default_factory=list)      # hook files written or updated
    put_back: list[str] = field(default_factory=list)     # of those, ones something had replaced or deleted
    attached: list[str] = field(default_factory=list)     # worktrees given wta's hooks (core.hooksPath)
    replaced: list[tuple[str, str]] = field(default_factory=list)   # (worktree, its own core.hooksPath before)
    moved: list[tuple[str, str]] = field(default_factory=list)      # (a manager's hook in wta's dir, where it went)
    dropped: list[tuple[str, str | None]] = field(default_factory=list)  # (such a hook, the repository's that stays)
    detached: list[str] = field(default_factory=list)
    restored: list[str] = field(default_factory=list)     # hooks an earlier wta had moved aside, put back
    given_back: list[tuple[str, str]] = field(default_factory=list)  # (worktree's git dir, its own
    #                                                                  core.hooksPath, set again by uninstall)
    copied: list[tuple[str, str]] = field(default_factory=list)   # (worktree, the repository's hooks directory
    #                                                               copied or refreshed there from the main worktree)
    missing: list[tuple[str, str]] = field(default_factory=list)  # (worktree, the repository's hooks directory
    #                                                               that is not there and was not copied)
    removed_dir: bool = False

    @property
    def changed(self) -> bool:
        return bool(self.written or self.attached or self.moved or self.dropped or self.detached
                    or self.restored or self.copied or self.removed_dir)


def install(common_dir: str, worktrees: list[str], main: str) -> HookReport:
    """wta's hooks for the stream worktrees `worktrees` (paths); nothing in the main worktree.

    Run twice, the second run changes nothing."""
    report = HookReport(hooks_dir(common_dir))
    shared = shared_hooks_path(common_dir)
    _undo_legacy(common_dir, shared, [main, *worktrees], report)
    _write_hooks(common_dir, shared, [main, *worktrees], report)
    _enable_worktree_config(common_dir)
    for path in worktrees:
        attach(common_dir, path, report)
        copy_repository_hooks(common_dir, main, path, report)
    return report


def put_back(common_dir: str, main: str, worktree: str, report: HookReport) -> None:
    """wta's hooks again in a stream worktree where something took them away (a `setup:` that runs a
    manager's install: lefthook's, from there, writes into wta's directory and renames wta's hooks), as
    `install` puts them back, before a session commits there."""
    _write_hooks(common_dir, shared_hooks_path(common_dir), [main, worktree], report)
    attach(common_dir, worktree, report)


def attach(common_dir: str, worktree: str, report: HookReport) -> None:
    """Point one stream worktree's own core.hooksPath at wta's hooks (`install` wrote them and turned
    per-worktree config on)."""
    git_dir = worktree_git_dir(worktree)
    if os.path.realpath(git_dir) == os.path.realpath(common_dir):
        return  # the main worktree: its config.worktree would apply to it, and it is the user's
    config = layout.worktree_config(git_dir)
    directory = hooks_dir(common_dir)
    values = git.file_config(config, "core.hooksPath", env=git.no_git_env())
    if not (len(values) == 1 and same_dir(values[0], directory)):
        if values and not all(_wta_hooks_elsewhere(v, directory) for v in values):
            report.replaced.append((worktree, values[-1]))
            write_atomic(_hooks_path_record(common_dir, git_dir), values[-1])   # for `uninstall`
        git.set_file_config(config, "core.hooksPath", directory, env=git.no_git_env())
        report.attached.append(worktree)
        values = [directory]
    # git reads the worktree's own config last: its one value is the answer, until a config file changes.
    remember_hooks_path(common_dir, worktree, values[0], git.no_git_env())


def copy_repository_hooks(common_dir: str, main: str, worktree: str, report: HookReport) -> None:
    """Put the repository's hooks directory into a stream worktree that lacks it: a copy of the main
    worktree's, when the shared core.hooksPath is a relative path inside the worktree.

    Only generated content is copied (every file there ignored by git in the main worktree, as
    husky's `_/` with its own `.gitignore`), and nowhere the stream's branch tracks a file. A copy
    wta made (layout.COPIED_HOOKS records its files) is refreshed when the main worktree's has
    changed and the copy has not; anything else there is left alone. Run outside the sandbox,
    after `setup:` and before the session, whose sandbox then keeps it read-only
    (sandbox.worktree_hooks).
    """
    shared = shared_hooks_path(common_dir)
    if not in_each_worktree(shared) or same_dir(worktree, main):
        return
    source, target = os.path.join(main, shared), os.path.join(worktree, shared)
    if not resolves_inside(worktree, target):
        report.missing.append((worktree, shared))   # a link out of the worktree on the way: nothing written there
        return
    record_file = layout.path(layout.state_dir(common_dir), layout.COPIED_HOOKS,
                              worktree=os.path.basename(worktree_git_dir(worktree)))
    try:
        with open(record_file, encoding="utf-8") as f:
            record = json.load(f)
    except (FileNotFoundError, ValueError):
        record = {}
    have = _digests(target)
    if have and (record.get("directory") != shared or record.get("files") != have):
        return  # the stream's own (its setup: made it, or it is tracked), or changed since wta copied it
    want = _digests(source) if os.path.isdir(source) else {}
    if have and have == want:
        return  # wta's copy, up to date
    env = git.no_git_env()
    if not want or git.files_not_ignored([shared], main, env) or git.tracked_files(worktree, env, paths=[shared]):
        if not have:
            report.missing.append((worktree, shared))
        return  # nothing to copy, not generated content, or the stream's branch has files there
    if have:
        shutil.rmtree(target)   # exactly wta's earlier copy (`have` is what it recorded)
    try:
        shutil.copytree(source, target, symlinks=True, dirs_exist_ok=True)
    except (OSError, shutil.Error):
        shutil.rmtree(target, ignore_errors=True)   # a later run copies it whole
        report.missing.append((worktree, shared))
        return
    os.makedirs(os.path.dirname(record_file), exist_ok=True)
    write_atomic(record_file, json.dumps({"worktree": worktree, "directory": shared, "files": _digests(target)},
                                         indent=1) + "\n")
    report.copied.append((worktree, shared))


def repository_hooks_missing(main: str, worktree: str, shared: str | None) -> bool:
    """Whether the repository's hooks directory, a relative shared core.hooksPath, is not in this stream
    worktree (nor, then, copied from the main worktree): its commits run only wta's check."""
    if not in_each_worktree(shared) or same_dir(worktree, main):
        return False
    return not _digests(os.path.join(worktree, shared))


def hooks_missing(where: str, directory: str) -> str:
    """What `wta status` and `wta up` say of a stream worktree (`where`: "<stream> (<path>)", or its path)
    without the repository's hooks directory."""
    return (f"repository hooks not found in {where}: core.hooksPath {directory} is not in that worktree, so its "
            "commits run only wta's check; install the hook manager in the main worktree, and `wta hooks install` "
            "copies what it generates there")


def _digests(directory: str) -> dict[str, str]:
    """The files under `directory`, each with the sha256 of its content (of a symlink: its target); {}
    when there is none."""
    found: dict[str, str] = {}
    for root, dirs, files in os.walk(directory):
        for name in (*files, *(d for d in dirs if os.path.islink(os.path.join(root, d)))):
            path = os.path.join(root, name)
            rel = os.path.relpath(path, directory)
            if os.path.islink(path):
                found[rel] = "symlink " + os.readlink(path)
            else:
                with open(path, "rb") as f:
                    found[rel] = hashlib.sha256(f.read()).hexdigest()
    return found


def _forget_records(common_dir: str, keep: list[str] | None = None) -> None:
    """Drop the records wta keeps per stream worktree (hooks directories it copied, core.hooksPath
    values it replaced), but for the worktrees whose git dirs are in `keep`. The copies stay: they
    are the hook manager's content, and run its hooks there as in the main worktree."""
    for name in (layout.COPIED_HOOKS, layout.HOOKS_PATH_BEFORE):
        template = layout.path(layout.state_dir(common_dir), name, worktree="{}")
        records, suffix = os.path.dirname(template), os.path.basename(template).replace("{}", "")
        kept = {os.path.basename(g) + suffix for g in keep or []}
        try:
            entries = os.listdir(records)
        except FileNotFoundError:
            continue
        for entry in entries:
            if entry not in kept:
                os.unlink(os.path.join(records, entry))
        if not kept & set(entries):
            os.rmdir(records)


def _hooks_path_record(common_dir: str, git_dir: str) -> str:
    return layout.path(layout.state_dir(common_dir), layout.HOOKS_PATH_BEFORE, worktree=os.path.basename(git_dir))


def uninstall(common_dir: str, worktrees: list[str]) -> HookReport:
    """Take wta's hooks away from every worktree of the repository, and its hooks directory and
    config with them; the repository's own hooks are left as they are."""
    report = HookReport(hooks_dir(common_dir))
    _undo_legacy(common_dir, shared_hooks_path(common_dir), worktrees, report)
    for git_dir in _linked_git_dirs(common_dir):
        if _detach(common_dir, git_dir, report):
            report.detached.append(git_dir)
    _remove_hooks_dir(common_dir, report)
    _forget_records(common_dir)
    return report


def tidy(common_dir: str) -> HookReport:
    """After worktrees were removed: when no worktree uses wta's hooks any more, remove them."""
    report = HookReport(hooks_dir(common_dir))
    directory = hooks_dir(common_dir)
    linked = _linked_git_dirs(common_dir)
    if any(same_dir(v, directory) for g in linked
           for v in git.file_config(layout.worktree_config(g), "core.hooksPath", env=git.no_git_env())):
        _forget_records(common_dir, linked)
        return report
    _remove_hooks_dir(common_dir, report)
    _forget_records(common_dir)
    return report


def zone_check_installed(common_dir: str, worktree: str, env: dict[str, str] | None = None) -> bool:
    """Whether git runs wta's pre-commit and commit-msg hooks in this worktree."""
    directory = hooks_dir(common_dir)
    if not same_dir(hooks_path_in(common_dir, worktree, env or git.no_git_env()), directory):
        return False
    return all(is_ours(p) and os.access(p, os.X_OK) for p in (os.path.join(directory, n) for n in CHECKED))


def not_installed(common_dir: str, stream: str, worktree: str, env: dict[str, str] | None = None) -> str:
    """What `wta status` and `wta watch` say of a stream worktree without wta's hooks."""
    value = hooks_path_in(common_dir, worktree, env or git.no_git_env())
    if _wta_hooks_elsewhere(value, hooks_dir(common_dir)):
        return (f"zone check not installed in {stream} ({worktree}): its hooks are still wta's at {value}, "
                "from before the repository moved; `wta hooks install` points it at this repository's")
    if not os.path.isdir(hooks_dir(common_dir)):   # `wta hooks uninstall` removes it with the last worktree's
        return (f"zone check not installed in {stream} ({worktree}): wta's hooks were uninstalled (wta hooks "
                "uninstall); `wta hooks install` or `wta up` puts them back")
    return (f"zone check not installed in {stream} ({worktree}): something set its hooks elsewhere; "
            "`wta hooks install` or `wta up` puts it back")


def _wta_hooks_elsewhere(value: str, directory: str) -> bool:
    """Whether a worktree's core.hooksPath names wta's hooks directory of another place: the one this
    repository had before it was moved or renamed (gone, or holding wta's hooks). It is wta's own, not
    the user's, so `wta hooks install` replaces it without keeping it for `uninstall`."""
    path = os.path.realpath(os.path.expanduser(value))
    return bool(value) and not same_dir(value, directory) and path.split(os.sep)[-2:] == ["wta", "hooks"] and \
        (not os.path.exists(path) or is_ours(os.path.join(path, CHECKED[0])))


def _write_hooks(common_dir: str, shared: str | None, worktrees: list[str], report: HookReport) -> None:
    directory = hooks_dir(common_dir)
    existed = os.path.isdir(directory)
    os.makedirs(directory, exist_ok=True)
    _move_foreign_hooks(common_dir, shared, directory, report)
    for name in (*CHECKED, FORWARD):
        path = os.path.join(directory, name)
        script = hook_script(name, common_dir)
        if os.path.isfile(path) and not os.path.islink(path) and _read(path) == script and os.access(path, os.X_OK):
            continue
        if existed and name in CHECKED and not is_ours(path):
            report.put_back.append(name)
        write_atomic(path, script, executable=True)
        report.written.append(name)
    # The other hooks: those run on every commit only if the repository has them (as wta's hooks
    # link them when they see one).
    places = _repository_hooks_dirs(common_dir, shared, worktrees)
    for name in FORWARDED:
        link = os.path.join(directory, name)
        if not os.path.lexists(link) and (name not in ON_EVERY_COMMIT or any(
                os.path.isfile(os.path.join(p, name)) and os.access(os.path.join(p, name), os.X_OK) for p in places)):
            os.symlink(FORWARD, link)
            report.written.append(name)


def _move_foreign_hooks(common_dir: str, shared: str | None, directory: str, report: HookReport) -> None:
    """Files a manager wrote into wta's directory from a stream worktree (where core.hooksPath
    led it: `lefthook install` renames wta's hook to `<name>.old` and writes its own). Its hook
    goes where that manager would have put it without wta, the repository's hooks directory,
    unless one is there already (which runs after wta's check anyway); wta's own renamed
    copies are dropped."""
    shared = next(iter(_repository_hooks_dirs(common_dir, shared, [])), None)   # None: one in each worktree
    for entry in sorted(os.listdir(directory)):
        path = os.path.join(directory, entry)
        if entry in (*HOOK_NAMES, FORWARD) and is_ours(path) or not os.path.isfile(path):
            continue
        if is_ours(path):
            os.unlink(path)  # our own hook under another name (lefthook's `pre-commit.old`)
            continue
        target = os.path.join(shared, entry) if shared else None
        if target is not None and not os.path.lexists(target):
            os.makedirs(shared, exist_ok=True)
            shutil.move(path, target)
            report.moved.append((entry, target))
        else:
            os.unlink(path)
            report.dropped.append((entry, target))


def _repository_hooks_dirs(common_dir: str, shared: str | None, worktrees: list[str]) -> list[str]:
    """Where the repository's own hooks are, given the shared core.hooksPath: the common dir's
    hooks/, an absolute core.hooksPath, or a relative one in each of `worktrees`."""
    if not shared:
        return [os.path.join(common_dir, "hooks")]
    return [shared] if os.path.isabs(shared) else [os.path.join(w, shared) for w in worktrees]


def _enable_worktree_config(common_dir: str) -> None:
    """Turn on per-worktree config, as git itself does (`git sparse-checkout init`): the main
    worktree's core.worktree (a submodule's) moves from the shared config to the main worktree's
    config.worktree, or every linked worktree would take it as its own. The marker file records
    that wta did it, and what it moved."""
    env = git.no_git_env()
    config = os.path.join(common_dir, "config")
    if git.file_config(config, "extensions.worktreeConfig", bool_type=True, env=env)[-1:] == ["true"]:
        return
    worktree = git.file_config(config, "core.worktree", env=env)
    write_atomic(layout.path(layout.state_dir(common_dir), layout.WORKTREE_CONFIG_ON),
                 "".join(f"core.worktree={v}\n" for v in worktree[-1:]))
    if worktree:
        git.set_file_config(layout.worktree_config(common_dir), "core.worktree", worktree[-1], env=env)
    git.set_file_config(config, "extensions.worktreeConfig", "true", env=env)
    if worktree:
        git.unset_file_config(config, "core.worktree", env=env)


def _detach(common_dir: str, git_dir: str, report: HookReport) -> bool:
    """Take wta's core.hooksPath out of a worktree's own config, giving back the one it replaced."""
    config, env = layout.worktree_config(git_dir), git.no_git_env()
    if not any(same_dir(v, hooks_dir(common_dir)) for v in git.file_config(config, "core.hooksPath", env=env)):
        return False
    git.unset_file_config(config, "core.hooksPath", env=env)
    record = _hooks_path_record(common_dir, git_dir)
    try:
        with open(record, encoding="utf-8", errors="surrogateescape") as f:
            before = f.read()
    except FileNotFoundError:
        before = None
    if before:
        git.set_file_config(config, "core.hooksPath", before, env=env)
        report.given_back.append((git_dir, before))
        os.unlink(record)
    elif not git.file_config(config, env=env):
        os.unlink(config)  # git may leave an empty [core]; nothing else was in it
    return True


def _remove_hooks_dir(common_dir: str, report: HookReport) -> None:
    directory = hooks_dir(common_dir)
    if os.path.isdir(directory):
        shutil.rmtree(directory)
        report.removed_dir = True
    marker = layout.path(layout.state_dir(common_dir), layout.WORKTREE_CONFIG_ON)
    try:
        with open(marker, encoding="utf-8") as f:
            moved = dict(line.rstrip("\n").partition("=")[::2] for line in f if "=" in line)
    except FileNotFoundError:
        return  # the extension was on before wta (or never turned on by it): not wta's to turn off
    env = git.no_git_env()
    main_config = layout.worktree_config(common_dir)
    ours = {f"{key.lower()}\n{value}" for key, value in moved.items()}
    if [e for e in git.file_config(main_config, env=env) if e not in ours] or \
            any(git.file_config(layout.worktree_config(g), env=env) for g in _linked_git_dirs(common_dir)):
        return  # something else keeps per-worktree config (a sparse checkout, the user)
    config = os.path.join(common_dir, "config")
    for key, value in moved.items():
        git.set_file_config(config, key, value, env=env)
    git.unset_file_config(config, "extensions.worktreeConfig", env=env)
    if moved and os.path.exists(main_config):
        os.unlink(main_config)  # it held only what wta had moved there
    os.unlink(marker)


def _undo_legacy(common_dir: str, value: str | None, worktrees: list[str], report: HookReport) -> None:
    """Earlier versions of wta wrote their hooks into the repository's hooks directory (`value`: the
    shared core.hooksPath), keeping a hook that was there as `<name>.wta-orig`: take them out and put
    the original back."""
    for directory in _repository_hooks_dirs(common_dir, value, worktrees):
        for name in CHECKED:
            path = os.path.join(directory, name)
            if not is_ours(path) or git.is_tracked(name, directory, git.no_git_env()):
                continue  # not wta's, or committed by the user: theirs either way
            os.unlink(path)
            if os.path.lexists(path + LEGACY_SUFFIX):
                os.replace(path + LEGACY_SUFFIX, path)
                report.restored.append(path)


def _linked_git_dirs(common_dir: str) -> list[str]:
    root = os.path.join(common_dir, "worktrees")
    try:
        return [os.path.join(root, e) for e in sorted(os.listdir(root)) if os.path.isdir(os.path.join(root, e))]
    except FileNotFoundError:
        return []


def _read(path: str) -> str:
    with open(path, encoding="utf-8", errors="replace") as f:
        return f.read()
