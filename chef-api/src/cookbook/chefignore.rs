//! `chefignore`: which cookbook files knife leaves out of an upload.
//!
//! The file used is the first one named `chefignore` found walking upwards from the cookbook
//! directory (Chef ≥ 15.4). Each line is a glob matched with Ruby's `File.fnmatch?` (no flags,
//! see [`fnmatch`](crate::ruby::fnmatch)) against a file's cookbook-relative path; blank lines
//! and lines whose first non-blank character is `#` are comments; surrounding whitespace is
//! stripped. There are no built-in patterns: without a file nothing is ignored.

use std::path::{Path, PathBuf};

use super::CookbookError;
use crate::ruby::fnmatch::fnmatch;

/// The file name knife looks for.
pub const FILE_NAME: &str = "chefignore";

/// The ignore patterns of one `chefignore` file (or none).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Chefignore {
    path: Option<PathBuf>,
    patterns: Vec<String>,
}

/// Characters Ruby's `String#strip` removes, plus U+00A0 (no-break space) which pasted files
/// carry where spaces belong; it is treated as a space with a warning.
fn is_strip(c: char) -> bool {
    matches!(
        c,
        ' ' | '\t' | '\n' | '\x0b' | '\x0c' | '\r' | '\0' | '\u{a0}'
    )
}

impl Chefignore {
    /// No patterns: nothing is ignored.
    pub fn none() -> Self {
        Self::default()
    }

    /// Finds the chefignore that applies to `cookbook_dir`: the first `chefignore` file in the
    /// directory or any of its ancestors (lexically, after making the path absolute), and
    /// parses it. No file anywhere means nothing is ignored.
    ///
    /// # Errors
    /// [`CookbookError::Io`] when the file or the current directory cannot be read,
    /// [`CookbookError::ChefignoreNotUtf8`] when a line is not UTF-8.
    pub fn find(cookbook_dir: &Path) -> Result<Self, CookbookError> {
        let abs = std::path::absolute(cookbook_dir).map_err(|source| CookbookError::Io {
            path: cookbook_dir.to_path_buf(),
            source,
        })?;
        for dir in abs.ancestors() {
            let candidate = dir.join(FILE_NAME);
            if candidate.is_file() {
                return Self::from_file(&candidate);
            }
        }
        Ok(Self::none())
    }

    /// Reads and parses one chefignore file.
    ///
    /// # Errors
    /// [`CookbookError::Io`] when it cannot be read, [`CookbookError::ChefignoreNotUtf8`] when
    /// a line is not UTF-8.
    pub fn from_file(path: &Path) -> Result<Self, CookbookError> {
        let bytes = std::fs::read(path).map_err(|source| CookbookError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let mut patterns = Vec::new();
        for (index, raw) in bytes.split(|&b| b == b'\n').enumerate() {
            let line = std::str::from_utf8(raw).map_err(|_| CookbookError::ChefignoreNotUtf8 {
                path: path.to_path_buf(),
                line: index + 1,
            })?;
            if let Some(pattern) = parse_line(line) {
                if line.contains('\u{a0}') {
                    tracing::warn!(
                        file = %path.display(),
                        line = index + 1,
                        "chefignore line contains a no-break space (U+00A0); treated as a space"
                    );
                }
                patterns.push(pattern);
            }
        }
        Ok(Self {
            path: Some(path.to_path_buf()),
            patterns,
        })
    }

    /// Parses chefignore text that did not come from a file (for tests and callers that have
    /// the content already).
    pub fn from_text(text: &str) -> Self {
        Self {
            path: None,
            patterns: text.split('\n').filter_map(parse_line).collect(),
        }
    }

    /// The file the patterns came from, if any.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// The patterns, in file order.
    pub fn patterns(&self) -> impl Iterator<Item = &str> {
        self.patterns.iter().map(String::as_str)
    }

    /// Whether the file at cookbook-relative `/`-separated `rel_path` is ignored.
    pub fn is_ignored(&self, rel_path: &str) -> bool {
        self.patterns.iter().any(|p| fnmatch(p, rel_path))
    }
}

/// One line's pattern, or `None` for blank and comment lines. No-break spaces count as spaces
/// (they are replaced inside the pattern too, where knife would keep them and never match).
fn parse_line(line: &str) -> Option<String> {
    let trimmed = line.trim_matches(is_strip);
    if trimmed.is_empty() || trimmed.starts_with('#') {
        return None;
    }
    Some(trimmed.replace('\u{a0}', " "))
}

#[cfg(test)]
mod tests {
    use super::Chefignore;

    /// chef-cli's `skeletons/code_generator/files/default/chefignore` patterns (§4.2).
    pub(crate) const DEFAULT: &str = "\
# Put files/directories that should be ignored in this file when uploading
# to a Chef Infra Server or Supermarket.
# Lines that start with '# ' are comments.

# OS generated files #
######################
.DS_Store
ehthumbs.db
Icon?
nohup.out
Thumbs.db
.envrc

# EDITORS #
###########
.#*
.project
.settings
*_flymake
*_flymake.*
*.bak
*.sw[a-z]
*.tmproj
*~
\\#*
REVISION
TAGS*
tmtags
.vscode
.editorconfig

## COMPILED ##
##############
*.class
*.com
*.dll
*.exe
*.o
*.pyc
*.so
*/rdoc/
a.out
mkmf.log

# Testing #
###########
.circleci/*
.codeclimate.yml
.delivery/*
.foodcritic
.kitchen*
.mdlrc
.overcommit.yml
.rspec
.rubocop.yml
.travis.yml
.watchr
.yamllint
azure-pipelines.yml
Dangerfile
examples/*
features/*
Guardfile
kitchen.yml*
mlc_config.json
Procfile
Rakefile
spec/*
test/*

# SCM #
#######
.git
.gitattributes
.gitconfig
.github/*
.gitignore
.gitkeep
.gitmodules
.svn
*/.bzr/*
*/.git
*/.hg/*
*/.svn/*

# Berkshelf #
#############
Berksfile
Berksfile.lock
cookbooks/*
tmp

# Bundler #
###########
vendor/*
Gemfile
Gemfile.lock

# Policyfile #
##############
Policyfile.rb
Policyfile.lock.json

# Documentation #
#############
CODE_OF_CONDUCT*
CONTRIBUTING*
documentation/*
TESTING*
UPGRADING*

# Vagrant #
###########
.vagrant
Vagrantfile
";

    #[test]
    fn comments_blank_lines_and_whitespace() {
        let ci = Chefignore::from_text(
            "# c\n\n   \n  # indented comment\n  *.bak  \r\nfoo # not a comment\n\t\n",
        );
        assert_eq!(
            ci.patterns().collect::<Vec<_>>(),
            ["*.bak", "foo # not a comment"]
        );
    }

    #[test]
    fn no_break_spaces_are_spaces() {
        let ci = Chefignore::from_text("\u{a0}*.bak\u{a0}\n\u{a0}# comment\n");
        assert_eq!(ci.patterns().collect::<Vec<_>>(), ["*.bak"]);
    }

    #[test]
    fn default_content_has_all_patterns() {
        let ci = Chefignore::from_text(DEFAULT);
        assert_eq!(ci.patterns().count(), 82);
        assert_eq!(ci.patterns().next(), Some(".DS_Store"));
        assert_eq!(ci.patterns().last(), Some("Vagrantfile"));
    }

    #[test]
    fn default_content_case_by_case() {
        let ci = Chefignore::from_text(DEFAULT);
        let ignored = [
            ".DS_Store",
            "Icon\r",
            "Icons",
            ".#recipe.rb",
            "x_flymake",
            "recipes/x_flymake.rb",
            "files/default/x.bak",
            "templates/default/.a.erb.swp",
            "README.md~",
            "#foo#",
            "TAGS",
            "TAGS.bak",
            "libraries/x.so",
            "files/default/x.pyc",
            ".circleci/config.yml",
            ".kitchen.yml",
            ".kitchen.local.yml",
            "kitchen.yml",
            "kitchen.yml.erb",
            "spec/spec_helper.rb",
            "spec/unit/recipes/default_spec.rb",
            "test/integration/default/default_test.rb",
            ".git",
            "files/.git",
            "files/x/.svn/entries",
            ".github/workflows/ci.yml",
            "Berksfile",
            "Berksfile.lock",
            "cookbooks/other/metadata.rb",
            "vendor/bundle/x.rb",
            "CONTRIBUTING.md",
            "TESTING.md",
            "documentation/a.md",
            "Vagrantfile",
            "tmp",
        ];
        for path in ignored {
            assert!(ci.is_ignored(path), "{path:?} should be ignored");
        }
        let kept = [
            "metadata.rb",
            "metadata.json",
            "README.md",
            "chefignore",
            "recipes/default.rb",
            "Icon",
            "recipes/.DS_Store",
            "files/default/.gitignore",
            "test",
            "spec",
            "tmp/x",
            "rdoc/index.html",
            "doc/rdoc/x.html",
            "files/default/Rakefile",
            "Gemfile.local",
            ".git/config",
            "tags",
            "x.swP",
            "files/default/x.sw1",
            "files/#foo",
            "libraries/Berksfile",
        ];
        for path in kept {
            assert!(!ci.is_ignored(path), "{path:?} should be kept");
        }
    }

    #[test]
    fn nothing_ignored_without_patterns() {
        let ci = Chefignore::none();
        assert!(!ci.is_ignored("anything"));
        assert_eq!(ci.path(), None);
    }
}
