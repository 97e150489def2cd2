//! Loading cookbooks from disk exactly as knife does: file walk, chefignore, segments,
//! MD5s (checked against `md5sum`), and complete v0/v2 manifests.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use chef_api::cookbook::manifest::{self, ManifestHead};
use chef_api::cookbook::metadata::MetadataSource;
use chef_api::cookbook::{
    Chefignore, CookbookError, CookbookFile, CookbookFiles, FileBody, LoadedCookbook, Segment,
};
use serde_json::{Map, Value, json};

use crate::support::write;

/// `md5sum`'s answer for a file.
fn md5sum(path: &Path) -> String {
    let out = Command::new("md5sum")
        .arg(path)
        .output()
        .expect("md5sum runs");
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap()[..32].to_owned()
}

fn binary_bytes() -> Vec<u8> {
    (0..70_000u32).map(|i| (i * 7 % 256) as u8).collect()
}

/// A cookbook using every feature of the walk; returns (tempdir, cookbook dir).
fn full_tree() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let cb = tmp.path().join("demo");
    for (rel, body) in [
        (
            "metadata.json",
            &b"{\"name\":\"demo\",\"version\":\"1.2.3\"}"[..],
        ),
        ("README.md", b"# demo\n"),
        (".rubocop.yml", b"AllCops: {}\n"),
        ("attributes/default.rb", b"default['a'] = 1\n"),
        ("definitions/d.rb", b"define :d do end\n"),
        ("files/root.txt", b"root default file\n"),
        ("files/default/b.txt", b"b\n"),
        ("files/ubuntu-22.04/y", b"y on ubuntu\n"),
        ("files/host-web1/x/y.conf", b"nested host file\n"),
        ("libraries/helpers.rb", b"module H; end\n"),
        ("libraries/sub/deep.rb", b"module D; end\n"),
        ("providers/p.rb", b"action :x do end\n"),
        ("recipes/default.rb", b"include_recipe 'demo::sub'\n"),
        ("recipes/sub/nested.rb", b"log 'nested'\n"),
        ("resources/r.rb", b"property :x\n"),
        ("templates/top.erb", b"<%= 1 %>\n"),
        ("templates/default/a.erb", b"a\n"),
        ("templates/host-web1/x.erb", b"host\n"),
        ("foo/bar.txt", b"outside the segments\n"),
        ("files/default/empty", b""),
        ("recipes/.hidden.rb", b"# hidden below top level is kept\n"),
        (
            "files/default/caf\u{e9} \u{65e5}\u{672c}.txt",
            "non-ascii name\n".as_bytes(),
        ),
        // Skipped: top-level dot directory, the uploaded-version marker at any depth.
        (".git/config", b"[core]\n"),
        (".kitchen/x.yml", b"x\n"),
        (".uploaded-cookbook-version.json", b"{}\n"),
        ("files/default/.uploaded-cookbook-version.json", b"{}\n"),
    ] {
        write(&cb, rel, body);
    }
    write(&cb, "files/default/blob.bin", &binary_bytes());
    fs::create_dir_all(cb.join("templates/empty_dir")).unwrap();
    // Symlinks: a file is followed, a directory is not descended (at top level or below).
    write(tmp.path(), "outside/linked.txt", b"link target content\n");
    write(tmp.path(), "outside/dir/inner.rb", b"never seen\n");
    std::os::unix::fs::symlink(
        tmp.path().join("outside/linked.txt"),
        cb.join("files/default/link.txt"),
    )
    .unwrap();
    std::os::unix::fs::symlink(
        tmp.path().join("outside/dir"),
        cb.join("libraries/linked_dir"),
    )
    .unwrap();
    std::os::unix::fs::symlink(tmp.path().join("outside/dir"), cb.join("linked_top")).unwrap();
    std::os::unix::fs::symlink(tmp.path().join("missing"), cb.join("recipes/broken.rb")).unwrap();
    (tmp, cb)
}

const FULL_PATHS: [&str; 24] = [
    ".rubocop.yml",
    "README.md",
    "attributes/default.rb",
    "definitions/d.rb",
    "files/default/b.txt",
    "files/default/blob.bin",
    "files/default/caf\u{e9} \u{65e5}\u{672c}.txt",
    "files/default/empty",
    "files/default/link.txt",
    "files/host-web1/x/y.conf",
    "files/root.txt",
    "files/ubuntu-22.04/y",
    "foo/bar.txt",
    "libraries/helpers.rb",
    "libraries/sub/deep.rb",
    "metadata.json",
    "providers/p.rb",
    "recipes/.hidden.rb",
    "recipes/default.rb",
    "recipes/sub/nested.rb",
    "resources/r.rb",
    "templates/default/a.erb",
    "templates/host-web1/x.erb",
    "templates/top.erb",
];

fn paths(files: &[CookbookFile]) -> Vec<&str> {
    files.iter().map(CookbookFile::path).collect()
}

#[test]
fn walk_finds_exactly_what_knife_uploads() {
    let (_tmp, cb) = full_tree();
    let walked = CookbookFiles::walk_with(&cb, Chefignore::none(), 3).unwrap();
    assert_eq!(paths(walked.files()), FULL_PATHS);
}

#[test]
fn checksums_and_sizes_match_md5sum() {
    let (_tmp, cb) = full_tree();
    let walked = CookbookFiles::walk_with(&cb, Chefignore::none(), 2).unwrap();
    for f in walked.files() {
        let disk = cb.join(f.path());
        assert_eq!(f.checksum(), md5sum(&disk), "{}", f.path());
        assert_eq!(f.size(), fs::metadata(&disk).unwrap().len(), "{}", f.path());
    }
    let blob = walked
        .files()
        .iter()
        .find(|f| f.path() == "files/default/blob.bin")
        .unwrap();
    assert_eq!(blob.size(), 70_000);
    let empty = walked
        .files()
        .iter()
        .find(|f| f.path() == "files/default/empty")
        .unwrap();
    assert_eq!(empty.checksum(), "d41d8cd98f00b204e9800998ecf8427e");
    let link = walked
        .files()
        .iter()
        .find(|f| f.path() == "files/default/link.txt")
        .unwrap();
    assert_eq!(link.checksum(), md5sum(&cb.join("../outside/linked.txt")));
}

#[test]
fn parallel_and_single_threaded_hashing_agree() {
    let (_tmp, cb) = full_tree();
    let one = CookbookFiles::walk_with(&cb, Chefignore::none(), 1).unwrap();
    let many = CookbookFiles::walk_with(&cb, Chefignore::none(), 8).unwrap();
    assert_eq!(one.files(), many.files());
}

#[test]
fn bodies_stream_the_file_content() {
    let (_tmp, cb) = full_tree();
    let walked = CookbookFiles::walk_with(&cb, Chefignore::none(), 2).unwrap();
    let blob = walked
        .files()
        .iter()
        .find(|f| f.path() == "files/default/blob.bin")
        .unwrap();
    assert_eq!(
        blob.body(),
        &FileBody::Disk(cb.join("files/default/blob.bin"))
    );
    let mut bytes = Vec::new();
    blob.open().unwrap().read_to_end(&mut bytes).unwrap();
    assert_eq!(bytes, binary_bytes());
    let link = walked
        .files()
        .iter()
        .find(|f| f.path() == "files/default/link.txt")
        .unwrap();
    let mut text = String::new();
    link.open().unwrap().read_to_string(&mut text).unwrap();
    assert_eq!(text, "link target content\n");
}

fn sum_of(files: &[CookbookFile], path: &str) -> String {
    files.iter().find(|f| f.path() == path).unwrap().checksum()
}

fn demo_metadata() -> Map<String, Value> {
    json!({"name": "demo", "version": "1.2.3", "dependencies": {}})
        .as_object()
        .unwrap()
        .clone()
}

#[test]
fn complete_v0_manifest() {
    let (_tmp, cb) = full_tree();
    let walked = CookbookFiles::walk_with(&cb, Chefignore::none(), 2).unwrap();
    let fs = walked.files();
    let meta = demo_metadata();
    let head = ManifestHead {
        cookbook_name: "demo",
        version: "1.2.3",
        metadata: &meta,
        frozen: false,
    };
    let rec = |name: &str, path: &str, spec: &str| json!({"name": name, "path": path, "checksum": sum_of(fs, path), "specificity": spec});
    let want = json!({
        "name": "demo-1.2.3",
        "cookbook_name": "demo",
        "version": "1.2.3",
        "json_class": "Chef::CookbookVersion",
        "chef_type": "cookbook_version",
        "frozen?": false,
        "metadata": {"name": "demo", "version": "1.2.3", "dependencies": {}},
        "resources": [rec("r.rb", "resources/r.rb", "default")],
        "providers": [rec("p.rb", "providers/p.rb", "default")],
        "recipes": [
            rec(".hidden.rb", "recipes/.hidden.rb", "default"),
            rec("default.rb", "recipes/default.rb", "default"),
            rec("nested.rb", "recipes/sub/nested.rb", "default"),
        ],
        "definitions": [rec("d.rb", "definitions/d.rb", "default")],
        "libraries": [
            rec("helpers.rb", "libraries/helpers.rb", "default"),
            rec("deep.rb", "libraries/sub/deep.rb", "default"),
        ],
        "attributes": [rec("default.rb", "attributes/default.rb", "default")],
        "files": [
            rec("b.txt", "files/default/b.txt", "default"),
            rec("blob.bin", "files/default/blob.bin", "default"),
            rec("caf\u{e9} \u{65e5}\u{672c}.txt", "files/default/caf\u{e9} \u{65e5}\u{672c}.txt", "default"),
            rec("empty", "files/default/empty", "default"),
            rec("link.txt", "files/default/link.txt", "default"),
            rec("y.conf", "files/host-web1/x/y.conf", "host-web1"),
            rec("root.txt", "files/root.txt", "root_default"),
            rec("y", "files/ubuntu-22.04/y", "ubuntu-22.04"),
        ],
        "templates": [
            rec("a.erb", "templates/default/a.erb", "default"),
            rec("x.erb", "templates/host-web1/x.erb", "host-web1"),
            rec("top.erb", "templates/top.erb", "root_default"),
        ],
        "root_files": [
            rec(".rubocop.yml", ".rubocop.yml", "default"),
            rec("README.md", "README.md", "default"),
            rec("metadata.json", "metadata.json", "default"),
        ],
    });
    let got = manifest::build_v0(&head, fs);
    assert_eq!(got, want);
    assert!(
        !got.to_string().contains("foo/bar.txt"),
        "files outside the nine segments are not expressible in v0"
    );
    assert_eq!(manifest::build(1, &head, fs), want);
}

#[test]
fn complete_v2_manifest() {
    let (_tmp, cb) = full_tree();
    let walked = CookbookFiles::walk_with(&cb, Chefignore::none(), 2).unwrap();
    let fs = walked.files();
    let meta = demo_metadata();
    let head = ManifestHead {
        cookbook_name: "demo",
        version: "1.2.3",
        metadata: &meta,
        frozen: true,
    };
    let rec = |name: &str, path: &str, spec: &str| json!({"name": name, "path": path, "checksum": sum_of(fs, path), "specificity": spec});
    let want = json!({
        "name": "demo-1.2.3",
        "cookbook_name": "demo",
        "version": "1.2.3",
        "json_class": "Chef::CookbookVersion",
        "chef_type": "cookbook_version",
        "frozen?": true,
        "metadata": {"name": "demo", "version": "1.2.3", "dependencies": {}},
        "all_files": [
            rec("root_files/.rubocop.yml", ".rubocop.yml", "default"),
            rec("root_files/README.md", "README.md", "default"),
            rec("attributes/default.rb", "attributes/default.rb", "default"),
            rec("definitions/d.rb", "definitions/d.rb", "default"),
            rec("files/b.txt", "files/default/b.txt", "default"),
            rec("files/blob.bin", "files/default/blob.bin", "default"),
            rec("files/caf\u{e9} \u{65e5}\u{672c}.txt", "files/default/caf\u{e9} \u{65e5}\u{672c}.txt", "default"),
            rec("files/empty", "files/default/empty", "default"),
            rec("files/link.txt", "files/default/link.txt", "default"),
            rec("files/y.conf", "files/host-web1/x/y.conf", "host-web1"),
            rec("files/root.txt", "files/root.txt", "root_default"),
            rec("files/y", "files/ubuntu-22.04/y", "ubuntu-22.04"),
            rec("foo/bar.txt", "foo/bar.txt", "default"),
            rec("libraries/helpers.rb", "libraries/helpers.rb", "default"),
            rec("libraries/deep.rb", "libraries/sub/deep.rb", "default"),
            rec("root_files/metadata.json", "metadata.json", "default"),
            rec("providers/p.rb", "providers/p.rb", "default"),
            rec("recipes/.hidden.rb", "recipes/.hidden.rb", "default"),
            rec("recipes/default.rb", "recipes/default.rb", "default"),
            rec("recipes/nested.rb", "recipes/sub/nested.rb", "default"),
            rec("resources/r.rb", "resources/r.rb", "default"),
            rec("templates/a.erb", "templates/default/a.erb", "default"),
            rec("templates/x.erb", "templates/host-web1/x.erb", "host-web1"),
            rec("templates/top.erb", "templates/top.erb", "root_default"),
        ],
    });
    assert_eq!(manifest::build_v2(&head, fs), want);
    assert_eq!(manifest::build(2, &head, fs), want);
    assert!(manifest::is_frozen(&want));
}

#[test]
fn segments_of_files() {
    let (_tmp, cb) = full_tree();
    let walked = CookbookFiles::walk_with(&cb, Chefignore::none(), 2).unwrap();
    let seg = |p: &str| {
        walked
            .files()
            .iter()
            .find(|f| f.path() == p)
            .unwrap()
            .segment()
            .clone()
    };
    assert_eq!(seg("foo/bar.txt"), Segment::Other("foo".into()));
    assert_eq!(seg("metadata.json"), Segment::RootFiles);
    assert_eq!(seg("libraries/sub/deep.rb"), Segment::Libraries);
}

#[test]
fn chefignore_found_upwards_and_nearest_wins() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("repo");
    let cb = repo.join("cookbooks/demo");
    write(
        &repo,
        "chefignore",
        b"# repo-wide\nspec/*\n*.bak\nREADME.md\n",
    );
    for rel in [
        "metadata.json",
        "README.md",
        "recipes/default.rb",
        "recipes/x.rb.bak",
        "spec/a_spec.rb",
        "chefignore.txt",
    ] {
        write(&cb, rel, b"x\n");
    }
    let walked = CookbookFiles::walk(&cb).unwrap();
    assert_eq!(
        walked.chefignore().path(),
        Some(repo.join("chefignore").as_path())
    );
    assert_eq!(
        paths(walked.files()),
        ["chefignore.txt", "metadata.json", "recipes/default.rb"]
    );

    // A chefignore in cookbooks/ is nearer than the repo's.
    write(&repo, "cookbooks/chefignore", b"recipes/*\n");
    let walked = CookbookFiles::walk(&cb).unwrap();
    assert_eq!(
        walked.chefignore().path(),
        Some(repo.join("cookbooks/chefignore").as_path())
    );
    assert_eq!(
        paths(walked.files()),
        [
            "README.md",
            "chefignore.txt",
            "metadata.json",
            "spec/a_spec.rb"
        ]
    );

    // One in the cookbook itself is nearest, and is itself uploaded as a root file.
    write(&cb, "chefignore", b"\n  *.txt  \nspec/*\n");
    let walked = CookbookFiles::walk(&cb).unwrap();
    assert_eq!(
        walked.chefignore().path(),
        Some(cb.join("chefignore").as_path())
    );
    assert_eq!(
        paths(walked.files()),
        [
            "README.md",
            "chefignore",
            "metadata.json",
            "recipes/default.rb",
            "recipes/x.rb.bak"
        ]
    );
}

#[test]
fn default_chefignore_on_a_generated_cookbook() {
    let tmp = tempfile::tempdir().unwrap();
    let cb = tmp.path().join("demo");
    write(
        &cb,
        "chefignore",
        b"# comment\n.DS_Store\nIcon?\n.#*\n*.bak\n*.sw[a-z]\n*~\n\\#*\n*/rdoc/\n.kitchen*\nkitchen.yml*\nspec/*\ntest/*\n.git\n*/.git\n.gitignore\nBerksfile\nBerksfile.lock\nvendor/*\nGemfile\nCONTRIBUTING*\nTESTING*\n.vagrant\n",
    );
    for rel in [
        "metadata.rb",
        "README.md",
        "CHANGELOG.md",
        "CONTRIBUTING.md",
        "TESTING.md",
        "Berksfile",
        "Gemfile",
        ".gitignore",
        ".kitchen.yml",
        "kitchen.yml",
        ".DS_Store",
        "#notes#",
        "recipes/default.rb",
        "recipes/default.rb~",
        "recipes/.default.rb.swp",
        "recipes/#x",
        "files/default/.git",
        "spec/spec_helper.rb",
        "test/integration/default/test.rb",
        "test.rb",
        "vendor/x/y.rb",
        "doc/rdoc/index.html",
    ] {
        write(&cb, rel, b"x\n");
    }
    let walked = CookbookFiles::walk(&cb).unwrap();
    assert_eq!(
        paths(walked.files()),
        [
            "CHANGELOG.md",
            "README.md",
            "chefignore",
            "doc/rdoc/index.html",
            "metadata.rb",
            "recipes/#x",
            "recipes/default.rb",
            "test.rb",
        ]
    );
}

#[test]
fn non_utf8_file_name_is_an_error_naming_it() {
    use std::os::unix::ffi::OsStrExt;
    let tmp = tempfile::tempdir().unwrap();
    let cb = tmp.path().join("demo");
    write(&cb, "metadata.json", b"{}");
    let bad = cb
        .join("files")
        .join(std::ffi::OsStr::from_bytes(b"bad\xff.txt"));
    fs::create_dir_all(bad.parent().unwrap()).unwrap();
    fs::write(&bad, b"x").unwrap();
    let err = CookbookFiles::walk_with(&cb, Chefignore::none(), 1).unwrap_err();
    assert!(
        matches!(&err, CookbookError::NonUtf8Path { path } if *path == bad),
        "{err:?}"
    );
    assert!(err.to_string().contains("bad\u{fffd}.txt"), "{err}");
}

#[test]
fn missing_directory_is_an_error_naming_it() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("nope");
    let err = CookbookFiles::walk_with(&missing, Chefignore::none(), 1).unwrap_err();
    assert!(err.to_string().contains("nope"), "{err}");
    let file = tmp.path().join("file");
    fs::write(&file, b"x").unwrap();
    let err = CookbookFiles::walk_with(&file, Chefignore::none(), 1).unwrap_err();
    assert!(
        matches!(err, CookbookError::NotADirectory { .. }),
        "{err:?}"
    );
}

#[test]
fn in_memory_file_record() {
    let f = CookbookFile::in_memory("metadata.json", bytes_of("{}\n"));
    assert_eq!(f.checksum(), "8a80554c91d9fca8acb82f023de02f11");
    assert_eq!(f.size(), 3);
    assert_eq!(f.v0_name(), "metadata.json");
    assert_eq!(f.v2_name(), "root_files/metadata.json");
    let mut s = String::new();
    f.open().unwrap().read_to_string(&mut s).unwrap();
    assert_eq!(s, "{}\n");
}

fn bytes_of(s: &str) -> bytes::Bytes {
    bytes::Bytes::from(s.as_bytes().to_vec())
}

// ---- Full loads (need the metadata loader from the `ruby` branch) -------------------------

#[test]
fn load_with_metadata_json_uses_it_verbatim() {
    let (_tmp, cb) = full_tree();
    let loaded = LoadedCookbook::load(&cb).unwrap();
    assert_eq!(loaded.name(), "demo");
    assert_eq!(loaded.version(), "1.2.3");
    assert_eq!(loaded.metadata_source(), MetadataSource::Json);
    assert_eq!(paths(loaded.files()), FULL_PATHS);
    let v0 = loaded.manifest_v0(false);
    assert_eq!(v0["name"], "demo-1.2.3");
    assert_eq!(v0["metadata"]["name"], "demo");
    assert_eq!(v0["metadata"]["version"], "1.2.3");
    assert_eq!(loaded.manifest(1, false), v0);
    assert_eq!(loaded.manifest(2, false), loaded.manifest_v2(false));
    assert!(loaded.matches_manifest(&v0).unwrap());
    let sums = loaded.checksums();
    assert!(
        sums.contains("d41d8cd98f00b204e9800998ecf8427e"),
        "the empty file"
    );
    assert_eq!(sums.len(), loaded.files().len(), "all test files differ");
    assert_eq!(
        loaded.total_size(),
        loaded.files().iter().map(CookbookFile::size).sum::<u64>()
    );
    assert!(loaded.matches_manifest(&loaded.manifest_v2(true)).unwrap());
}

#[test]
fn load_with_metadata_rb_adds_generated_metadata_json() {
    let tmp = tempfile::tempdir().unwrap();
    let cb = tmp.path().join("web");
    write(&cb, "metadata.rb", b"name 'web'\nversion '2.0'\n");
    write(&cb, "recipes/default.rb", b"log 'hi'\n");
    let loaded = LoadedCookbook::load(&cb).unwrap();
    assert_eq!(loaded.metadata_source(), MetadataSource::Rb);
    assert_eq!(loaded.name(), "web");
    assert_eq!(loaded.version(), "2.0.0");
    assert_eq!(
        paths(loaded.files()),
        ["metadata.json", "metadata.rb", "recipes/default.rb"]
    );
    assert!(
        !cb.join("metadata.json").exists(),
        "the user's tree is never modified"
    );
    let generated = &loaded.files()[0];
    let knife_json = loaded.metadata().to_knife_json();
    assert!(!knife_json.is_empty());
    let mut body = String::new();
    generated.open().unwrap().read_to_string(&mut body).unwrap();
    assert_eq!(body, knife_json);
    let on_disk = tmp.path().join("knife.json");
    fs::write(&on_disk, &knife_json).unwrap();
    assert_eq!(generated.checksum(), md5sum(&on_disk));
    let v0 = loaded.manifest_v0(false);
    assert_eq!(v0["root_files"][0]["name"], "metadata.json");
    assert_eq!(v0["root_files"][0]["checksum"], md5sum(&on_disk));
    assert_eq!(
        v0["metadata"],
        Value::Object(loaded.metadata().as_json().clone())
    );
}

#[test]
fn chefignore_that_is_not_utf8_is_an_error_naming_file_and_line() {
    let tmp = tempfile::tempdir().unwrap();
    let cb = tmp.path().join("demo");
    write(&cb, "metadata.json", b"{}");
    write(&cb, "chefignore", b"# ok\n*.bak\nbad\xff\n");
    let err = CookbookFiles::walk(&cb).unwrap_err();
    assert!(
        matches!(&err, CookbookError::ChefignoreNotUtf8 { path, line: 3 } if *path == cb.join("chefignore")),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .ends_with("chefignore: line 3: not valid UTF-8"),
        "{err}"
    );
}

#[test]
fn chefignore_with_no_break_spaces_still_matches() {
    let tmp = tempfile::tempdir().unwrap();
    let cb = tmp.path().join("demo");
    write(
        &cb,
        "chefignore",
        "\u{a0}\u{a0}*.bak\u{a0}\n\u{a0}# pasted comment\n".as_bytes(),
    );
    write(&cb, "metadata.json", b"{}");
    write(&cb, "recipes/x.rb.bak", b"x");
    let walked = CookbookFiles::walk(&cb).unwrap();
    assert_eq!(
        walked.chefignore().patterns().collect::<Vec<_>>(),
        ["*.bak"]
    );
    assert_eq!(paths(walked.files()), ["chefignore", "metadata.json"]);
}
