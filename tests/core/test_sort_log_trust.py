"""Undo of a sort trusts nothing in the sort log it cannot check: the log lives in the sorted
folder, which may be shared or synced, so anyone may have edited it. Undo touches only files inside
that folder that the log says a sort placed there and that still hold what was placed; a line that
points elsewhere, or whose file does not match, is refused and reported, and nothing is deleted
unless an identical copy is known to remain."""

import json
import os

import pytest

from catdog_desktop import cli
from catdog_desktop.core.classify import sorting
from catdog_desktop.core.classify.classifier import Prediction
from hostile import make_lying_sort_log


def sort_some(folder, target, move):
    """Sort three small files of ``folder`` (made here) into ``target``; returns ({name: bytes} of them,
    the sort's report)."""
    folder.mkdir()
    made, predictions = {}, []
    for name in ("a.jpg", "b.jpg", "c.jpg"):
        (folder / name).write_bytes(f"picture {name}".encode())
        made[name] = f"picture {name}".encode()
        predictions.append(Prediction(path=str(folder / name), class_name="cats", probability=0.9,
                                      probabilities={"cats": 0.9, "dogs": 0.1}))
    report = sorting.sort_files(predictions, ["cats", "dogs"], target, move=move)
    assert len(report.placed) == 3
    return made, report


def undo_in_cli(capsys, target):
    code = cli.main(["undo-sort", str(target)])
    out, err = capsys.readouterr()
    return code, out + err


@pytest.mark.parametrize("how", ["core", "cli"])
def test_an_edited_sort_log_cannot_make_undo_delete_or_move_files_it_did_not_place(tmp_path, capsys, how):
    lie = make_lying_sort_log(tmp_path)
    for refused in lie.refused:  # the move-sort first (newest), then the copy-sort
        if how == "core":
            report = sorting.undo_last_sort(lie.target)
            said = report.summary() + "\n" + "\n".join(f"{p}: {why}" for _, p, why in report.refused)
            assert len(report.refused) == refused and report.restored == []
        else:
            code, said = undo_in_cli(capsys, lie.target)
            assert code == cli.EXIT_SOME_FAILED and said.count("refused (sort log line") == refused
        assert f"{refused} lines of the sort log were refused" in said
        for path, content in lie.untouchable.items():
            assert path.read_bytes() == content, path
        assert not any(os.path.lexists(p) for p in lie.made_up)
    assert "outside" in said and "the same file" in said
    with pytest.raises(Exception, match="no sort to undo"):
        sorting.undo_last_sort(lie.target)


def test_each_refusal_says_why(tmp_path):
    lie = make_lying_sort_log(tmp_path)
    reasons = [why for _, _, why in sorting.undo_last_sort(lie.target).refused]
    assert reasons == [f"it is reached through a link in {lie.target} that leads elsewhere",
                       "its path contains '..' (a sort never writes that)",
                       f"it is outside {lie.target}",
                       "this computer's catdog-desktop did not write that line (an older version did, or another "
                       "computer, or someone edited the log), so the file is not moved out of the folder",
                       "it is not a complete sort log entry"]
    reasons = [why for _, _, why in sorting.undo_last_sort(lie.target).refused]
    assert reasons == ["its original and its place in the sorted folder are the same file", f"it is outside {lie.target}"]


def test_a_moved_file_changed_since_the_sort_stays_and_the_others_go_back(tmp_path):
    target = tmp_path / "sorted"
    made, _ = sort_some(tmp_path / "inbox", target, move=True)
    (target / "cats" / "b.jpg").write_bytes(b"someone else's content")
    os.unlink(target / "cats" / "c.jpg")
    os.symlink(tmp_path / "inbox-elsewhere.jpg", target / "cats" / "c.jpg")
    (tmp_path / "inbox-elsewhere.jpg").write_bytes(made["c.jpg"])  # the same bytes, reached through a link
    report = sorting.undo_last_sort(target)
    assert sorted(os.listdir(tmp_path / "inbox")) == ["a.jpg"] and (tmp_path / "inbox" / "a.jpg").read_bytes() == made["a.jpg"]
    assert (target / "cats" / "b.jpg").read_bytes() == b"someone else's content"
    assert (tmp_path / "inbox-elsewhere.jpg").read_bytes() == made["c.jpg"] and os.path.islink(target / "cats" / "c.jpg")
    assert sorted((os.path.basename(p), why) for _, p, why in report.refused) == [
        ("b.jpg", "it is not what the sort put there (changed since, or replaced)"),
        ("c.jpg", f"it is reached through a link in {target} that leads elsewhere")]


def test_a_copy_is_removed_only_while_its_original_is_identical(tmp_path):
    target = tmp_path / "sorted"
    sort_some(tmp_path / "inbox", target, move=False)
    lines = [json.loads(line) for line in (target / sorting.JOURNAL_NAME).read_text().splitlines()]
    planned = [line for line in lines if line["op"] == "planned"]
    assert all(line["size"] > 0 and len(line["sha256"]) == 64 for line in planned)  # recorded when sorting
    (tmp_path / "inbox" / "a.jpg").write_bytes(b"edited after the sort")
    os.unlink(tmp_path / "inbox" / "b.jpg")
    report = sorting.undo_last_sort(target)
    assert sorted(os.listdir(target / "cats")) == ["a.jpg", "b.jpg"] and len(report.restored) == 1
    assert sorted(os.path.basename(p) for p, _ in report.kept) == ["a.jpg", "b.jpg"]


def test_a_log_from_the_previous_version_removes_identical_copies_but_moves_nothing_out(tmp_path):
    """The previous version recorded no sizes, hashes or signatures. A copy is still removed when its
    original is there with the same bytes (nothing can be lost); a moved file is not moved out,
    since that line could have been written by anyone: the user moves it back by hand."""
    target, inbox = tmp_path / "sorted", tmp_path / "inbox"
    inbox.mkdir()
    (target / "cats").mkdir(parents=True)
    for name in ("copied.jpg", "moved.jpg"):
        (target / "cats" / name).write_bytes(b"same bytes")
    (inbox / "copied.jpg").write_bytes(b"same bytes")
    lines = []
    for run, mode, name in (("old1", "copy", "copied.jpg"), ("old2", "move", "moved.jpg")):
        entry = {"run": run, "src": str(inbox / name), "dst": str(target / "cats" / name)}
        lines += [{"op": "begin", "run": run, "mode": mode, "time": "2025-12-01T09:00:00", "count": 1},
                  {"op": "planned", **entry}, {"op": "placed", **entry}, {"op": "end", "run": run, "stopped": False}]
    (target / sorting.JOURNAL_NAME).write_text("".join(json.dumps(line) + "\n" for line in lines))
    moved = sorting.undo_last_sort(target)
    assert moved.restored == [] and len(moved.refused) == 1 and "older version" in moved.refused[0][2]
    assert (target / "cats" / "moved.jpg").read_bytes() == b"same bytes" and sorted(os.listdir(inbox)) == ["copied.jpg"]
    copied = sorting.undo_last_sort(target)
    assert copied.refused == [] and len(copied.restored) == 1 and sorted(os.listdir(target / "cats")) == ["moved.jpg"]
    assert (inbox / "copied.jpg").read_bytes() == b"same bytes"


def test_a_log_signed_on_another_computer_moves_nothing_out_and_the_key_stays_private(tmp_path, monkeypatch):
    """The key that signs the log is the user's own (readable by them only); a sort recorded under
    another key (another computer, a lost key) is not moved out. Where no key can be kept (a
    read-only home), sort and undo in the same run still work."""
    from catdog_desktop.core.classify import signing

    monkeypatch.setenv(signing.DATA_ENV, str(tmp_path / "here"))
    target = tmp_path / "sorted"
    made, report = sort_some(tmp_path / "inbox", target, move=True)
    assert "only until" not in report.summary()
    assert (tmp_path / "here" / signing.KEY_NAME).stat().st_mode & 0o777 == 0o600
    monkeypatch.setenv(signing.DATA_ENV, str(tmp_path / "another computer"))
    report = sorting.undo_last_sort(target)
    assert report.restored == [] and len(report.refused) == 3 and "another computer" in report.refused[0][2]
    assert {name: (target / "cats" / name).read_bytes() for name in made} == made and os.listdir(tmp_path / "inbox") == []

    (tmp_path / "a file").write_bytes(b"")
    monkeypatch.setenv(signing.DATA_ENV, str(tmp_path / "a file" / "data"))  # cannot be made
    again = tmp_path / "again"
    _, report = sort_some(again, tmp_path / "sorted again", move=True)
    assert "Undo can put them back only until the program exits" in report.summary()
    assert len(sorting.undo_last_sort(tmp_path / "sorted again").restored) == 3 and len(os.listdir(again)) == 3
