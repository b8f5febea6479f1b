"""whytoken.files: atomic writes keep the old file or the new one, never a mix; errors name the path and the fix."""

from __future__ import annotations

import errno
import os
import stat
import subprocess
import sys

import pytest

from whytoken.errors import InvalidParameterError, OutputError
from whytoken.files import (
    append_text,
    atomic_directory,
    atomic_open,
    atomic_path,
    atomic_write_bytes,
    atomic_write_text,
    ensure_directory,
    output_error,
)


def test_the_module_imports_without_torch():
    code = "import sys, whytoken.files; print(','.join(m for m in ('torch', 'numpy') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_replacing_keeps_the_permissions_of_the_old_file(tmp_path):
    path = tmp_path / "f.txt"
    path.write_text("old")
    path.chmod(0o640)
    atomic_write_text(path, "new")
    assert path.read_text() == "new" and stat.S_IMODE(path.stat().st_mode) == 0o640


def test_a_new_file_gets_the_umask_permissions(tmp_path):
    old = os.umask(0o022)
    try:
        atomic_write_bytes(tmp_path / "b", b"x")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "b").stat().st_mode) == 0o644


def test_writing_through_a_symlink_replaces_its_target_not_the_link(tmp_path):
    real = tmp_path / "real.json"
    real.write_text("old")
    link = tmp_path / "link.json"
    link.symlink_to(real)
    atomic_write_text(link, "new")
    assert link.is_symlink() and real.read_text() == "new"


def test_an_exception_in_the_writer_keeps_the_old_file_and_removes_the_temporary(tmp_path):
    path = tmp_path / "g.npz"
    path.write_bytes(b"old")
    with pytest.raises(ZeroDivisionError):
        with atomic_path(path) as tmp:
            assert tmp.parent == tmp_path and tmp.suffix == ".npz" and tmp.exists()
            tmp.write_bytes(b"half")
            1 / 0
    assert path.read_bytes() == b"old" and sorted(p.name for p in tmp_path.iterdir()) == ["g.npz"]


def test_ctrl_c_in_the_writer_keeps_the_old_file(tmp_path):
    path = tmp_path / "g.txt"
    path.write_text("old")
    with pytest.raises(KeyboardInterrupt):
        with atomic_open(path) as handle:
            handle.write("half")
            raise KeyboardInterrupt
    assert path.read_text() == "old" and len(list(tmp_path.iterdir())) == 1


def test_only_write_modes_are_offered(tmp_path):
    with pytest.raises(InvalidParameterError, match="'a'.*append_text"):
        with atomic_open(tmp_path / "x", "a"):
            pass


def test_a_directory_is_replaced_whole(tmp_path):
    target = tmp_path / "ckpt"
    with atomic_directory(target) as tmp:
        (tmp / "a").write_text("1")
    with pytest.raises(RuntimeError):
        with atomic_directory(target) as tmp:
            (tmp / "b").write_text("2")
            raise RuntimeError("interrupted conversion")
    assert sorted(p.name for p in target.iterdir()) == ["a"]
    with atomic_directory(target) as tmp:
        (tmp / "c").write_text("3")
    assert sorted(p.name for p in target.iterdir()) == ["c"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt"]


def test_a_file_where_the_directory_should_go_is_refused(tmp_path):
    (tmp_path / "ckpt").write_text("x")
    with pytest.raises(OutputError, match="a file is in the way"):
        with atomic_directory(tmp_path / "ckpt"):
            pass
    with pytest.raises(OutputError, match="a file is in the way"):
        ensure_directory(tmp_path / "ckpt")


def test_a_failed_append_is_rolled_back(tmp_path):
    log = tmp_path / "rows.jsonl"
    append_text(log, "one\n")
    code = ("import resource, sys; from whytoken.files import append_text\n"
            "resource.setrlimit(resource.RLIMIT_FSIZE, (50, resource.RLIM_INFINITY))\n"
            f"append_text({str(log)!r}, 'x' * 200 + '\\n')\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 1 and "OutputError" in out.stderr and "File too large" in out.stderr
    assert log.read_text() == "one\n"


@pytest.mark.parametrize("code, fix", [
    (errno.ENOSPC, "free disk space"), (errno.EACCES, "change the permissions"), (errno.EROFS, "read-only"),
    (errno.EISDIR, "pass a file name inside it"), (errno.ENOENT, "create it first"), (errno.EIO, "disk is healthy"),
])
def test_every_failure_says_how_to_fix_it(code, fix):
    err = output_error(OSError(code, os.strerror(code)), "/data/out/g.json", "graph")
    assert isinstance(err, OutputError) and "'/data/out/g.json'" in str(err) and fix in str(err)
