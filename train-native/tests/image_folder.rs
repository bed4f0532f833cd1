//! A folder per class (`DIR/<class>/*.jpg`, torchvision's `ImageFolder`), with its optional
//! `groups.csv`, and the mistakes such a folder can hold.

mod common;

use std::path::{Path, PathBuf};

use common::tree;

use train_native::data::Dataset;
use train_native::data::classes::named;
use train_native::data::image_folder::GROUPS_FILE;

fn refused(dir: &Path) -> String {
    format!("{:#}", Dataset::load(dir, None).unwrap_err())
}

fn photo(dir: &Path, relative: &str) -> PathBuf {
    dir.join(relative)
}

#[test]
fn each_folder_is_a_class_and_the_groups_file_keeps_a_lesion_together() {
    let dir = tree(&[
        ("scc", "a"),
        ("scc", "b"),
        ("bcc", "c"),
        ("ak", "d"),
        ("ak", "e"),
    ]);
    std::fs::create_dir_all(dir.path().join("ak/more")).unwrap();
    std::fs::copy(
        photo(dir.path(), "ak/d.jpg"),
        photo(dir.path(), "ak/more/f.jpg"),
    )
    .unwrap();
    std::fs::write(
        dir.path().join(GROUPS_FILE),
        "image,group\nscc/a.jpg,L1\nb.jpg,L1\n",
    )
    .unwrap();
    let ds = Dataset::load(dir.path(), None).unwrap();
    assert_eq!(
        ds.codes(),
        ["ak", "bcc", "scc"],
        "codes sorted: not all are HAM10000's"
    );
    assert_eq!(ds.class_counts(0..ds.records.len()), [3, 1, 2]);
    let id = |r: &str| ds.records.iter().find(|x| x.image_id == r).unwrap();
    assert_eq!(
        id("ak/more/f.jpg").label,
        0,
        "photos in subfolders belong to the class"
    );
    assert_eq!(id("scc/a.jpg").lesion_id, "L1");
    assert_eq!(id("scc/b.jpg").lesion_id, "L1");
    assert_eq!(
        id("bcc/c.jpg").lesion_id,
        "bcc/c.jpg",
        "without a group, a photo is its own"
    );
    // HAM10000's codes keep its order and names; `--classes` sets the order.
    let ham = tree(&[("nv", "a"), ("mel", "b"), ("bkl", "c")]);
    let ds = Dataset::load(ham.path(), None).unwrap();
    assert_eq!(ds.codes(), ["bkl", "mel", "nv"]);
    assert_eq!(ds.classes[1].name, "Melanoma");
    let wanted = [named("nv"), named("mel"), named("bkl")];
    let ds = Dataset::load(ham.path(), Some(&wanted)).unwrap();
    assert_eq!(ds.codes(), ["nv", "mel", "bkl"]);
}

#[test]
fn an_unreadable_photo_is_skipped_and_counted() {
    let dir = tree(&[("a", "1"), ("a", "2"), ("b", "3")]);
    std::fs::write(photo(dir.path(), "a/2.jpg"), b"\xFF\xD8\xFF\xE0 truncated").unwrap();
    let ds = Dataset::load(dir.path(), None).unwrap();
    assert_eq!(ds.records.len(), 2);
    assert!(ds.records.iter().all(|r| r.image_id != "a/2.jpg"));
}

#[test]
fn the_mistakes_a_folder_can_hold_are_named() {
    let empty = tempfile::tempdir().unwrap();
    let err = refused(empty.path());
    assert!(
        err.contains("neither HAM10000_metadata.csv nor class folders"),
        "{err}"
    );

    let dir = tree(&[("a", "1"), ("b", "2")]);
    std::fs::create_dir_all(dir.path().join("c")).unwrap();
    std::fs::write(dir.path().join("c/notes.txt"), "no photos").unwrap();
    let err = refused(dir.path());
    assert!(err.contains("c") && err.contains("holds no .jpg"), "{err}");

    let dir = tree(&[("a", "1"), ("b", "1")]);
    let err = refused(dir.path());
    assert!(err.contains("photo 1 is in two classes"), "{err}");

    let dir = tree(&[("a", "1")]);
    let err = refused(dir.path());
    assert!(err.contains("2 to"), "one class cannot make a model: {err}");

    let dir = tree(&[("a", "1"), ("b", "2")]);
    let wanted = [named("a"), named("c")];
    let err = format!(
        "{:#}",
        Dataset::load(dir.path(), Some(&wanted)).unwrap_err()
    );
    assert!(
        err.contains("folder \"b\" is not one of the classes asked for (a, c)"),
        "{err}"
    );
    // A class of the list without a folder is allowed (evaluating a model on some classes).
    let wanted = [named("a"), named("b"), named("c")];
    let ds = Dataset::load(dir.path(), Some(&wanted)).unwrap();
    assert_eq!(ds.class_counts(0..ds.records.len()), [1, 1, 0]);

    let groups = dir.path().join(GROUPS_FILE);
    std::fs::write(&groups, "image,group\na/1.jpg,L1\nz/9.jpg,L2\n").unwrap();
    let err = refused(dir.path());
    assert!(
        err.contains("groups.csv: line 3") && err.contains("z/9.jpg"),
        "{err}"
    );
    std::fs::write(&groups, "image,group\na/1.jpg,L1\n1.jpg,L2\n").unwrap();
    let err = refused(dir.path());
    assert!(
        err.contains("line 3") && err.contains("listed twice"),
        "{err}"
    );
    std::fs::write(&groups, "photo,lesion\na/1.jpg,L1\n").unwrap();
    let err = refused(dir.path());
    assert!(err.contains("missing column `image`"), "{err}");
}
