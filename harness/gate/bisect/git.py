"""The git side of a bisect: the commits between two refs and one worktree per commit.

Only `git` subprocesses against the user's repository: its checkout (HEAD, index,
files) is never touched; each probed commit gets a detached `git worktree` of its own
under the bisect's results folder, removed when the bisect ends.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path


class GitError(Exception):
    """A git command failed or the refs do not make a range: one line for the user."""


def git(repo: Path, *args: str, timeout: float = 120) -> str:
    try:
        done = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True,
                              timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise GitError(f"git {' '.join(args)}: {exc}") from None
    if done.returncode != 0:
        detail = (done.stderr or done.stdout).strip().splitlines()
        raise GitError(f"git {' '.join(args)}: {detail[-1] if detail else f'exit {done.returncode}'}")
    return done.stdout


def resolve(repo: Path, ref: str) -> str:
    """The full commit id of `ref`."""
    return git(repo, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}").strip()


def commit_range(repo: Path, good: str, bad: str) -> list[str]:
    """good, the commits after it on bad's first-parent line, and bad: oldest first."""
    good_id, bad_id = resolve(repo, good), resolve(repo, bad)
    if good_id == bad_id:
        raise GitError(f"--good {good} and --bad {bad} are the same commit")
    after = git(repo, "rev-list", "--first-parent", "--reverse", f"{good_id}..{bad_id}").split()
    if not after:
        raise GitError(f"--good {good} is not an ancestor of --bad {bad}")
    first_parent = git(repo, "rev-parse", f"{after[0]}^").strip() if _has_parent(repo, after[0]) else ""
    if first_parent != good_id:
        raise GitError(f"--good {good} is not on the first-parent history of --bad {bad}")
    return [good_id, *after]


def _has_parent(repo: Path, commit: str) -> bool:
    return len(git(repo, "rev-list", "--parents", "-n", "1", commit).split()) > 1


def subject(repo: Path, commit: str) -> str:
    return git(repo, "log", "-1", "--format=%s", commit).strip()


def add_worktree(repo: Path, commit: str, path: Path) -> Path:
    """A detached worktree of `commit` at `path` (reused if a stopped bisect left it)."""
    if path.is_dir():
        try:
            if git(path, "rev-parse", "HEAD").strip() == commit:
                return path
        except GitError:
            pass
        remove_worktree(repo, path)
    path.parent.mkdir(parents=True, exist_ok=True)
    git(repo, "worktree", "add", "--detach", "--force", str(path), commit)
    return path


def remove_worktree(repo: Path, path: Path) -> None:
    try:
        git(repo, "worktree", "remove", "--force", str(path))
    except GitError:
        shutil.rmtree(path, ignore_errors=True)  # not a registered worktree (any more)
    git(repo, "worktree", "prune")
