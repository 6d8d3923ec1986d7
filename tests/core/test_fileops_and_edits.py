"""Moving the user's pictures: never overwritten, never lost, undo restores them byte-identical."""

import errno
import os
from pathlib import Path

import pytest

from catdog_desktop.core import fileops
from catdog_desktop.core.data.dataset import scan_dataset
from catdog_desktop.core.data.edits import EXCLUDED_DIR, DatasetEditor, EditError
from catdog_desktop.core.fileops import copy_file, move_file, unique_path
from synthetic import write_class_folders


def _write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def test_unique_path_numbers_clashes(tmp_path):
    a = _write(tmp_path / "photo.jpg", b"1")
    assert unique_path(tmp_path / "new.jpg") == tmp_path / "new.jpg"
    assert unique_path(a) == tmp_path / "photo (2).jpg"
    _write(tmp_path / "photo (2).jpg", b"2")
    assert unique_path(a) == tmp_path / "photo (3).jpg"


def test_move_and_copy_never_overwrite(tmp_path):
    src = _write(tmp_path / "a" / "x.jpg", b"new")
    existing = _write(tmp_path / "b" / "x.jpg", b"old")
    copied = copy_file(src, tmp_path / "b")
    assert copied == tmp_path / "b" / "x (2).jpg" and copied.read_bytes() == b"new"
    assert existing.read_bytes() == b"old" and src.read_bytes() == b"new"
    moved = move_file(src, tmp_path / "b")
    assert moved == tmp_path / "b" / "x (3).jpg" and moved.read_bytes() == b"new"
    assert not src.exists() and existing.read_bytes() == b"old"
    assert sorted(p.name for p in (tmp_path / "b").iterdir()) == ["x (2).jpg", "x (3).jpg", "x.jpg"]


def test_move_without_hard_links_still_never_overwrites(tmp_path, monkeypatch):
    """FAT drives and some shares have no hard links: the fallback keeps the same promises."""
    def no_links(*_args):
        raise OSError(errno.EPERM, "Operation not permitted")
    monkeypatch.setattr(fileops.os, "link", no_links)
    src = _write(tmp_path / "a" / "x.jpg", b"new")
    _write(tmp_path / "b" / "x.jpg", b"old")
    moved = move_file(src, tmp_path / "b")
    assert moved.name == "x (2).jpg" and moved.read_bytes() == b"new" and not src.exists()
    assert (tmp_path / "b" / "x.jpg").read_bytes() == b"old"
    copied = copy_file(moved, tmp_path / "c")
    assert copied.read_bytes() == b"new" and not any(p.name.endswith(".partial") for p in (tmp_path / "c").iterdir())


def test_a_failed_copy_leaves_the_original_and_no_partial_file(tmp_path, monkeypatch):
    src = _write(tmp_path / "a" / "x.jpg", b"data")

    def disk_full(*_args, **_kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(fileops.shutil, "copy2", disk_full)
    with pytest.raises(OSError):
        copy_file(src, tmp_path / "b")
    assert src.read_bytes() == b"data" and list((tmp_path / "b").iterdir()) == []


def test_a_move_whose_original_cannot_be_removed_leaves_the_file_in_one_place(tmp_path, monkeypatch):
    """A read-only source folder: the link is made, then the original cannot be removed. The new
    name is taken away again, so the picture is not in two places while the move is reported as
    failed. (Tests run as root, which permission bits do not stop: the refusal is simulated.)"""
    src = _write(tmp_path / "a" / "x.jpg", b"data")
    real_unlink = os.unlink

    def read_only_source(path, *args, **kwargs):
        if Path(path) == src:
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real_unlink(path, *args, **kwargs)

    monkeypatch.setattr(fileops.os, "unlink", read_only_source)
    with pytest.raises(PermissionError):
        move_file(src, tmp_path / "b")
    assert src.read_bytes() == b"data" and list((tmp_path / "b").iterdir()) == []


def test_write_atomic_never_replaces_a_file_unless_asked_also_without_hard_links(tmp_path, monkeypatch):
    """FAT/exFAT and some shares refuse hard links: a new file is then renamed into place after
    checking the name is free (predict --csv used to fail there)."""
    def no_links(*_args):
        raise OSError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(fileops.os, "link", no_links)
    path = fileops.write_atomic(tmp_path / "out.csv", b"first")
    assert path.read_bytes() == b"first" and path.stat().st_mode & 0o777 == fileops.new_file_mode()
    with pytest.raises(FileExistsError):
        fileops.write_atomic(path, b"second")
    assert path.read_bytes() == b"first"
    fileops.write_atomic(path, b"second", overwrite=True)
    assert path.read_bytes() == b"second" and [p.name for p in tmp_path.iterdir()] == ["out.csv"]


def test_undoing_a_group_stops_at_the_first_picture_that_cannot_go_back(tmp_path, monkeypatch):
    """Undo goes newest first: when one picture cannot be moved back, the older ones wait (they
    are not tried again and again, nor undone out of turn), and it stays the next to undo."""
    from catdog_desktop.core.data import edits
    from catdog_desktop.core.app import jobs

    root = tmp_path / "data"
    write_class_folders(root, ["cats", "dogs"], 3, size=24)
    editor = DatasetEditor(root)
    cats = sorted((root / "cats").iterdir())
    done, failed = jobs.edit_pictures(None, editor, "exclude", [str(p) for p in cats])
    assert len(done) == 3 and failed == []
    real_move, tried = edits.move_file, []

    def stuck(source, folder, name=None):
        tried.append(Path(source).name)
        if Path(source).name == cats[1].name:
            raise PermissionError(errno.EACCES, "Permission denied", str(source))
        return real_move(source, folder, name)

    monkeypatch.setattr(edits, "move_file", stuck)
    done, failed = jobs.edit_pictures(None, editor, "undo", [], undo_count=3)
    assert [Path(edit.destination).name for _, edit in done] == [cats[2].name] and len(failed) == 1
    assert tried == [cats[2].name, cats[1].name] and len(editor.history) == 2
    monkeypatch.setattr(edits, "move_file", real_move)
    done, failed = jobs.edit_pictures(None, editor, "undo", [], undo_count=2)
    assert failed == [] and [Path(edit.destination).name for _, edit in done] == [cats[1].name, cats[0].name]
    assert sorted((root / "cats").iterdir()) == cats


def test_editor_moves_excludes_and_undoes_byte_identical(tmp_path):
    root = tmp_path / "data"
    write_class_folders(root, ["cats", "dogs"], 6, size=24)
    cat = sorted((root / "cats").iterdir())[0]
    dog = sorted((root / "dogs").iterdir())[0]
    cat_bytes, dog_bytes = cat.read_bytes(), dog.read_bytes()
    _write(root / "dogs" / cat.name, b"a dog picture that happens to share the name")

    editor = DatasetEditor(root)
    moved = editor.move_to_class(cat, "dogs")
    assert Path(moved.destination).parent == (root / "dogs").resolve()
    assert Path(moved.destination).name != cat.name  # the clash got a new name
    assert (root / "dogs" / cat.name).read_bytes() == b"a dog picture that happens to share the name"
    excluded = editor.exclude(dog)
    assert Path(excluded.destination) == (root / EXCLUDED_DIR / "dogs" / dog.name).resolve()
    assert not cat.exists() and not dog.exists()

    scan = scan_dataset(root, validation_split=0.2, seed=1)
    assert scan.class_names == ["cats", "dogs"]  # _excluded is not a class
    every = scan.train.paths + scan.validation.paths
    assert not any(EXCLUDED_DIR in p for p in every)
    assert len(every) == 12 - 1  # one excluded (the made-up clash file is not a picture)

    assert editor.undo().destination == str(dog.resolve())
    assert not (root / EXCLUDED_DIR).exists()  # emptied by the undo: no empty folders left behind
    assert editor.undo().destination == str(cat.resolve())
    assert cat.read_bytes() == cat_bytes and dog.read_bytes() == dog_bytes
    assert editor.undo() is None and not editor.can_undo


def test_editor_in_a_train_test_layout_and_bad_requests(tmp_path):
    root = tmp_path / "data"
    write_class_folders(root / "train", ["cats", "dogs"], 3, size=24)
    write_class_folders(root / "test", ["cats", "dogs"], 2, seed=1, size=24)
    editor = DatasetEditor(root)
    picture = sorted((root / "test" / "cats").iterdir())[0]
    edit = editor.exclude(picture)
    assert Path(edit.destination).parent == (root / "test" / EXCLUDED_DIR / "cats").resolve()
    scan = scan_dataset(root, validation_split=0.2, seed=1)
    assert scan.class_names == ["cats", "dogs"] and len(scan.test.paths) == 3
    with pytest.raises(EditError, match="not inside the dataset"):
        editor.exclude(tmp_path / "elsewhere.jpg")
    with pytest.raises(EditError, match="cannot be a class folder"):
        editor.move_to_class(sorted((root / "train" / "dogs").iterdir())[0], "../x")
    gone = sorted((root / "train" / "cats").iterdir())[0]
    os.unlink(gone)
    with pytest.raises(EditError, match="no longer there"):
        editor.move_to_class(gone, "dogs")
    # The excluded picture was removed outside the app: undo says so instead of crashing.
    os.unlink(edit.destination)
    with pytest.raises(EditError, match="Cannot undo"):
        editor.undo()
