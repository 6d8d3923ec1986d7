from pathlib import Path

import pytest

from catdog_desktop.core.data.dataset import LAYOUT_CLASSES, LAYOUT_SPLIT, scan_dataset, scan_images
from catdog_desktop.core.errors import CancelledError, DatasetError
from hostile import make_link_to_itself
from synthetic import write_class_folders


def messages(scan, level):
    return " | ".join(p.message for p in scan.problems if p.level == level)


def test_class_folders_split_stratified_and_seeded(tmp_path):
    write_class_folders(tmp_path / "pets", ["cats", "dogs"], 20)
    scan = scan_dataset(tmp_path / "pets")
    assert scan.ok and scan.layout == LAYOUT_CLASSES
    assert scan.class_names == ["cats", "dogs"]
    assert scan.validation.counts(2) == [4, 4] and scan.train.counts(2) == [16, 16]
    assert not set(scan.train.paths) & set(scan.validation.paths)
    assert scan_dataset(tmp_path / "pets").validation.paths == scan.validation.paths
    assert scan_dataset(tmp_path / "pets", seed=7).validation.paths != scan.validation.paths
    assert scan.evaluation_name == "validation"


def test_original_train_test_layout(tmp_path):
    root = tmp_path / "dataset"
    write_class_folders(root / "4k_training_data_set", ["cats", "dogs"], 10)
    write_class_folders(root / "1k_test_data_set", ["cats", "dogs"], 3, seed=1)
    scan = scan_dataset(root)
    assert scan.ok and scan.layout == LAYOUT_SPLIT
    assert scan.test.counts(2) == [3, 3]
    # the test folder is never trained on nor used for validation
    test = set(scan.test.paths)
    assert not test & set(scan.train.paths) and not test & set(scan.validation.paths)
    assert all("training" in p for p in scan.train.paths + scan.validation.paths)
    assert scan.evaluation_split is scan.test


def test_validation_folder_is_used_when_present(tmp_path):
    write_class_folders(tmp_path / "train", ["a", "b"], 6)
    write_class_folders(tmp_path / "valid", ["a", "b"], 2, seed=2)
    scan = scan_dataset(tmp_path)
    assert scan.train.counts(2) == [6, 6] and scan.validation.counts(2) == [2, 2]
    assert "valid" in scan.validation_source and "No test folder" in messages(scan, "warning")


def test_three_classes_in_sorted_order(tmp_path):
    write_class_folders(tmp_path, ["zebra", "ant", "Moose"], 5)
    scan = scan_dataset(tmp_path)
    assert scan.class_names == ["Moose", "ant", "zebra"]
    assert sorted(set(scan.train.labels)) == [0, 1, 2]


def test_junk_files_are_skipped_and_listed(tmp_path):
    write_class_folders(tmp_path, ["cats", "dogs"], 5)
    (tmp_path / "cats" / "notes.txt").write_text("hello")
    (tmp_path / "cats" / "fake.jpg").write_text("not really a jpeg")
    (tmp_path / "dogs" / "empty.PNG").write_bytes(b"")
    (tmp_path / "dogs" / ".DS_Store").write_bytes(b"\0\0")
    (tmp_path / "dogs" / "Thumbs.db").write_bytes(b"\0\0")
    (tmp_path / "dogs" / "UPPER.PNG").write_bytes((tmp_path / "dogs" / "dogs_000.png").read_bytes())
    scan = scan_dataset(tmp_path)
    reasons = {Path(p).name: r for p, r in scan.skipped}
    assert set(reasons) == {"notes.txt", "fake.jpg", "empty.PNG"}
    assert "not an image file type" in reasons["notes.txt"]
    assert "not an image" in reasons["fake.jpg"] and "empty" in reasons["empty.PNG"]
    assert scan.ok and len(scan.train) + len(scan.validation) == 11  # UPPER.PNG counts


@pytest.mark.parametrize("setup, expected", [
    (lambda root: None, "is empty"),
    (lambda root: write_class_folders(root, ["cats"], 5), "Only one class"),
    (lambda root: [write_class_folders(root / "x", ["c"], 3), [p.rename(root / p.name) for p in (root / "x" / "c").iterdir()]],
     "directly in"),
    (lambda root: [write_class_folders(root, ["cats"], 5), (root / "dogs").mkdir()], "Only one class"),
    (lambda root: write_class_folders(root, ["cats", "dogs"], 1), "at least 2 pictures"),
])
def test_unusable_folders_give_a_clear_error(tmp_path, setup, expected):
    root = tmp_path / "data"
    root.mkdir()
    setup(root)
    scan = scan_dataset(root)
    assert not scan.ok
    assert expected in messages(scan, "error")
    with pytest.raises(DatasetError, match=expected):
        scan.raise_for_errors()


def test_test_classes_must_match_training(tmp_path):
    write_class_folders(tmp_path / "train", ["cats", "dogs"], 5)
    write_class_folders(tmp_path / "test", ["cats", "birds"], 2)
    scan = scan_dataset(tmp_path)
    assert "training does not have: birds" in messages(scan, "error")
    assert "no pictures of: dogs" in messages(scan, "warning")


def test_imbalance_is_reported(tmp_path):
    write_class_folders(tmp_path / "a", ["x"], 30)
    write_class_folders(tmp_path / "a", ["y"], 10, seed=3)
    scan = scan_dataset(tmp_path / "a")
    assert scan.ok and "imbalanced" in messages(scan, "warning")


def test_missing_folder_and_file_raise(tmp_path):
    with pytest.raises(DatasetError, match="does not exist"):
        scan_dataset(tmp_path / "nope")
    (tmp_path / "f.txt").write_text("x")
    with pytest.raises(DatasetError, match="not a folder"):
        scan_dataset(tmp_path / "f.txt")


def test_scan_can_be_cancelled(tmp_path):
    write_class_folders(tmp_path, ["a", "b"], 5)
    with pytest.raises(CancelledError):
        scan_dataset(tmp_path, should_stop=lambda: True)


def test_symlink_loop_does_not_hang(tmp_path):
    write_class_folders(tmp_path, ["a", "b"], 3)
    (tmp_path / "a" / "loop").symlink_to(tmp_path)
    scan = scan_dataset(tmp_path)
    assert scan.ok and len(scan.train) + len(scan.validation) == 6


def test_scan_images_expands_folders_and_reports_missing(tmp_path):
    write_class_folders(tmp_path, ["a"], 3)
    (tmp_path / "a" / "readme.md").write_text("x")
    found, skipped = scan_images([tmp_path / "a", tmp_path / "gone.jpg"])
    assert len(found) == 3
    assert {Path(p).name for p, _ in skipped} == {"readme.md", "gone.jpg"}


def test_a_class_named_like_train_is_still_a_class(tmp_path):
    write_class_folders(tmp_path / "vehicles" / "trains", ["steam", "electric"], 3)
    write_class_folders(tmp_path / "vehicles", ["planes", "cars"], 6)
    scan = scan_dataset(tmp_path / "vehicles")
    assert scan.layout == LAYOUT_CLASSES and scan.class_names == ["cars", "planes", "trains"]


def test_the_same_picture_in_training_and_test_is_reported(tmp_path):
    write_class_folders(tmp_path / "train", ["cats", "dogs"], 10)
    write_class_folders(tmp_path / "test", ["cats", "dogs"], 2, seed=4)
    trained_on = scan_dataset(tmp_path).train.paths[0]
    (tmp_path / "test" / "cats" / "copied.png").write_bytes(Path(trained_on).read_bytes())
    scan = scan_dataset(tmp_path)
    assert scan.ok
    assert "1 test picture is also among the training pictures" in messages(scan, "warning")
    assert "copied.png" in messages(scan, "warning")
    assert "validation picture(s) are also" not in messages(scan, "warning")


def test_a_new_split_reuses_the_files_found_and_equals_a_fresh_scan(tmp_path):
    import shutil

    write_class_folders(tmp_path / "pets", ["cats", "dogs"], 15)
    shutil.copy(tmp_path / "pets" / "cats" / "cats_000.png", tmp_path / "pets" / "cats" / "copy.png")  # a leak, maybe
    scan = scan_dataset(tmp_path / "pets", validation_split=0.2, seed=1)
    fresh = scan_dataset(tmp_path / "pets", validation_split=0.4, seed=7)
    assert scan.resplit(0.2, 1) is scan
    (tmp_path / "pets").rename(tmp_path / "gone")  # nothing is read again
    again = scan.resplit(0.4, 7)
    for name in ("train", "validation", "problems", "validation_source", "seed", "validation_split"):
        assert getattr(again, name) == getattr(fresh, name), name
    assert (len(scan.validation), len(again.validation)) == (6, 12)
    assert again.resplit(0.2, 1).train == scan.train


def test_a_validation_folder_is_not_split_again(tmp_path):
    write_class_folders(tmp_path / "d" / "train", ["a", "b"], 10)
    write_class_folders(tmp_path / "d" / "val", ["a", "b"], 3, seed=2)
    scan = scan_dataset(tmp_path / "d")
    assert scan.validation_from_folder and scan.resplit(0.5, 3) is scan


def test_a_folder_nested_1200_deep_is_scanned_without_recursion(tmp_path, deep_folder):
    write_class_folders(tmp_path / "data", ["cats", "dogs"], 3)
    deep = deep_folder(tmp_path / "data" / "dogs")
    scan = scan_dataset(tmp_path / "data")
    assert scan.ok and str(deep) in scan.train.paths + scan.validation.paths
    found, skipped = scan_images([tmp_path / "data" / "dogs", tmp_path / "gone.jpg"])
    assert str(deep) in found and len(found) == 4 and [Path(p).name for p, _ in skipped] == ["gone.jpg"]


def test_a_class_folder_linking_to_the_dataset_itself_is_left_out_with_a_warning(tmp_path):
    write_class_folders(tmp_path, ["cats", "dogs"], 3)
    make_link_to_itself(tmp_path)
    scan = scan_dataset(tmp_path)
    assert scan.class_names == ["cats", "dogs"] and len(scan.train) + len(scan.validation) == 6
    assert "'zloop'" in messages(scan, "warning") and "link" in messages(scan, "warning")


def test_a_link_to_an_ancestor_is_left_out_but_a_link_elsewhere_is_a_class(tmp_path):
    write_class_folders(tmp_path / "data" / "train", ["cats", "dogs"], 3)
    write_class_folders(tmp_path / "data" / "test", ["cats", "dogs"], 2)
    write_class_folders(tmp_path / "more", ["birds"], 3)
    (tmp_path / "data" / "train" / "up").symlink_to(tmp_path / "data")
    (tmp_path / "data" / "train" / "birds").symlink_to(tmp_path / "more" / "birds")
    (tmp_path / "more" / "birds" / "back").symlink_to(tmp_path / "data")  # inside a class: never followed
    scan = scan_dataset(tmp_path / "data")
    assert scan.layout == LAYOUT_SPLIT and scan.class_names == ["birds", "cats", "dogs"]
    assert len(scan.train) + len(scan.validation) == 9
    assert "'up'" in messages(scan, "warning")


def test_fixing_a_few_pictures_moves_only_a_few_between_training_and_validation(tmp_path):
    """The split is by a hash of each picture's path: after pictures are moved to another class,
    excluded or added, the validation pictures of before stay out of training but for at most one
    picture per change, so a model trained before is still checked on pictures it never trained on.
    The old seeded shuffle mixed most of them (kept for models that recorded no split method)."""
    import shutil

    from catdog_desktop.core.data.dataset import LEGACY_SPLIT_METHOD, SPLIT_METHOD

    pets = write_class_folders(tmp_path / "pets", ["cats", "dogs"], 60)
    before = {method: scan_dataset(pets, split_method=method) for method in (SPLIT_METHOD, LEGACY_SPLIT_METHOD)}
    assert before[SPLIT_METHOD].validation.counts(2) == [12, 12] and before[SPLIT_METHOD].split_method == "hashed"
    cats, dogs = sorted((pets / "cats").iterdir()), sorted((pets / "dogs").iterdir())
    shutil.move(cats[0], pets / "dogs" / cats[0].name)             # moved to the other class
    (pets / "_excluded" / "cats").mkdir(parents=True)
    shutil.move(cats[1], pets / "_excluded" / "cats" / cats[1].name)  # excluded
    shutil.copy(dogs[0], pets / "dogs" / "new.png")                # one added
    changes = 3
    for method, old in before.items():
        new = scan_dataset(pets, split_method=method)
        trained_before = set(old.train.paths)
        leaked = [p for p in new.validation.paths if p in trained_before]
        if method == SPLIT_METHOD:
            assert len(leaked) <= changes, leaked
            assert new.summary()["split_method"] == "hashed"
        else:
            assert len(leaked) > 10  # measured: most of the 24 validation pictures


def test_the_hashed_split_survives_moving_the_dataset_folder(tmp_path):
    write_class_folders(tmp_path / "pets", ["cats", "dogs"], 20)
    first = scan_dataset(tmp_path / "pets", seed=3)
    (tmp_path / "pets").rename(tmp_path / "moved")
    again = scan_dataset(tmp_path / "moved", seed=3)
    assert [Path(p).relative_to(tmp_path / "moved") for p in again.validation.paths] == \
           [Path(p).relative_to(tmp_path / "pets") for p in first.validation.paths]
    # Another method without reading the folder again: as a fresh scan by that method.
    legacy = first.resplit(0.2, 3, "shuffled")
    assert legacy.split_method == "shuffled" and legacy.validation.paths != first.validation.paths
    assert [Path(p).relative_to(tmp_path / "pets") for p in legacy.validation.paths] == \
           [Path(p).relative_to(tmp_path / "moved")
            for p in scan_dataset(tmp_path / "moved", seed=3, split_method="shuffled").validation.paths]
    with pytest.raises(ValueError, match="split method"):
        scan_dataset(tmp_path / "moved", split_method="alphabetical")
