//! metadata.rb → metadata.json, byte for byte as knife compiles it, over realistic cookbooks in
//! `tests/data/metadata/<case>/` (each has `metadata.rb` and the expected `metadata.json`), plus
//! the loader's precedence rules and positioned errors for unsupported Ruby.

use std::path::{Path, PathBuf};

use chef_api::cookbook::metadata::{self, Metadata, MetadataError, MetadataSource};
use chef_api::ruby::Interpreter;

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/metadata")
}

fn case_dirs() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(fixtures_dir())
        .expect("fixtures dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    dirs
}

/// Evaluates the case's metadata.rb (the expected metadata.json sits next to it, so `load`
/// would pick that up instead).
fn compile(dir: &Path) -> Result<(Metadata, Vec<chef_api::ruby::Warning>), MetadataError> {
    let rb = dir.join("metadata.rb");
    let src = std::fs::read_to_string(&rb).expect("metadata.rb");
    Metadata::from_rb_str(&src, &rb, &Interpreter::new())
}

#[test]
fn every_fixture_compiles_to_the_expected_metadata_json() {
    let dirs = case_dirs();
    assert!(dirs.len() >= 25, "only {} fixture cookbooks", dirs.len());
    let mut failures = Vec::new();
    for dir in &dirs {
        let expected = std::fs::read_to_string(dir.join("metadata.json")).expect("expected json");
        match compile(dir) {
            Ok((m, _)) => {
                let got = m.to_knife_json();
                if got != expected {
                    failures.push(format!(
                        "{}:\n--- expected\n{expected}\n--- got\n{got}",
                        dir.display()
                    ));
                }
            }
            Err(e) => failures.push(format!("{}: {e}", dir.display())),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn fixture_metadata_accessors() {
    let (m, _) = compile(&fixtures_dir().join("depends_many")).unwrap();
    assert_eq!(m.name(), "app_stack");
    assert_eq!(m.version(), "4.2.0");
    assert_eq!(m.dependencies().count(), 8);
    assert_eq!(m.dependencies().nth(2), Some(("windows", "~> 4.1")));
}

#[test]
fn legacy_calls_and_pasted_spaces_warn_with_lines() {
    let (_, w) = compile(&fixtures_dir().join("legacy_fields")).unwrap();
    let lines: Vec<u32> = w.iter().map(|w| w.line).collect();
    assert_eq!(lines, [4, 5, 6, 7, 8, 9]);
    assert!(
        w[0].message
            .starts_with("`recommends 'database'` is ignored"),
        "{}",
        w[0].message
    );
    let (_, w) = compile(&fixtures_dir().join("nbsp_pasted")).unwrap();
    let lines: Vec<u32> = w.iter().map(|w| w.line).collect();
    assert_eq!(lines, [1, 2, 3]);
}

#[test]
fn load_prefers_metadata_json_verbatim() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("metadata.rb"), "name 'rb'\nversion '1.0'\n").unwrap();
    let (m, src) = metadata::load(dir.path()).unwrap();
    assert_eq!(
        (m.name(), m.version(), src),
        ("rb", "1.0.0", MetadataSource::Rb)
    );
    let json =
        "{\n  \"name\": \"js\",\n  \"version\": \"2.0\",\n  \"x-custom\": {\"keep\": [1, 2]}\n}";
    std::fs::write(dir.path().join("metadata.json"), json).unwrap();
    let (m, src) = metadata::load(dir.path()).unwrap();
    assert_eq!(
        (m.name(), m.version(), src),
        ("js", "2.0", MetadataSource::Json)
    );
    assert_eq!(m.as_json()["x-custom"]["keep"][1], 2);
}

#[test]
fn load_reports_bad_json_with_position() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("metadata.json"), "{\n  \"name\": \"x\",\n}").unwrap();
    let e = metadata::load(dir.path()).unwrap_err();
    match e {
        MetadataError::Json { line, column, .. } => assert_eq!((line, column), (3, 1)),
        other => panic!("unexpected {other}"),
    }
}

/// Unsupported or forbidden Ruby in metadata.rb: exact position and message.
#[test]
fn unsupported_constructs_in_metadata_rb() {
    let cases: &[(&str, &str)] = &[
        (
            "name 'x'\nversion `git describe`.strip\n",
            "2:9: backtick commands are not supported",
        ),
        (
            "name 'x'\nversion %x(cat VERSION)\n",
            "2:9: backtick commands are not supported",
        ),
        (
            "name 'x'\n  system('curl evil')\n",
            "2:3: system(...) is not allowed: chef-sync never runs commands",
        ),
        (
            "name 'x'\neval(File.read('extra.rb'))\n",
            "2:1: eval is not allowed",
        ),
        (
            "name 'x'\nrequire_relative 'lib/version'\nversion MyCookbook::VERSION\n",
            "3:9: constant MyCookbook::VERSION is not supported",
        ),
        (
            "name 'x'\nversion Chef::VERSION\n",
            "2:9: constant Chef::VERSION is not supported",
        ),
        (
            "name 'x'\nlong_name 'Legacy' do\nend\n",
            "2:1: undefined method 'long_name'",
        ),
        (
            "name 'x'\nversion '1.0' if `hostname` =~ /ci/\n",
            "2:18: backtick commands are not supported",
        ),
        (
            "name 'x'\nDir.glob('recipes/*.rb').each { |r| recipe r, '' }\n",
            "2:1: Dir.glob is not supported",
        ),
        (
            "name 'x'\nversion(\n",
            "2:9: syntax error: unexpected end-of-input; expected a `)` to close the arguments",
        ),
        (
            "name 'x'\ndepends 'a', '>= 1.0', '< 2.0'\n",
            "2:1: depends 'a', \">= 1.0\", \"< 2.0\": only one version constraint is allowed",
        ),
        (
            "name 'x'\nsupports 'ubuntu', '!= 18.04'\n",
            "2:1: supports 'ubuntu', \"!= 18.04\": invalid version constraint \"!= 18.04\": '!=' is not a Chef constraint operator (Chef rejects it)",
        ),
        (
            "name 'x'\nprivacy 'yes'\n",
            "2:1: privacy expects true or false, got \"yes\" (String)",
        ),
        (
            "name 'x'\nrecipe 'x::default'\n",
            "2:1: wrong number of arguments for recipe (given 1, expected 2)",
        ),
        (
            "name 'x'\nchef_version 'latest'\n",
            "2:1: chef_version: illformed requirement \"latest\"",
        ),
    ];
    for (src, want) in cases {
        let e = Metadata::from_rb_str(
            src,
            Path::new("cookbooks/x/metadata.rb"),
            &Interpreter::new(),
        )
        .expect_err(src);
        assert_eq!(
            e.to_string(),
            format!("cookbooks/x/metadata.rb:{want}"),
            "source: {src:?}"
        );
    }
}
