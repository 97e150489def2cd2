//! Segment, name and specificity of each cookbook file (`Chef::CookbookManifest`).

use std::fmt;

/// The part of a cookbook a file belongs to: one of the nine v0 segments, or any other
/// top-level directory (expressible only in v2 `all_files` manifests).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Segment {
    /// `resources/`
    Resources,
    /// `providers/`
    Providers,
    /// `recipes/`
    Recipes,
    /// `definitions/`
    Definitions,
    /// `libraries/`
    Libraries,
    /// `attributes/`
    Attributes,
    /// `files/`
    Files,
    /// `templates/`
    Templates,
    /// Files directly in the cookbook directory (`metadata.rb`, `README.md`, `chefignore`).
    RootFiles,
    /// Any other top-level directory, e.g. `foo` for `foo/bar.txt`; knife's v0 serializer
    /// drops these files.
    Other(String),
}

impl Segment {
    /// The nine v0 segments in knife's order (`Chef::Cookbook::ManifestV0::COOKBOOK_SEGMENTS`).
    pub const V0: [Segment; 9] = [
        Segment::Resources,
        Segment::Providers,
        Segment::Recipes,
        Segment::Definitions,
        Segment::Libraries,
        Segment::Attributes,
        Segment::Files,
        Segment::Templates,
        Segment::RootFiles,
    ];

    /// The segment of a top-level directory name (`root_files` is never a directory's segment:
    /// a directory literally named `root_files` is [`Segment::Other`]).
    pub fn from_dir(name: &str) -> Self {
        match name {
            "resources" => Self::Resources,
            "providers" => Self::Providers,
            "recipes" => Self::Recipes,
            "definitions" => Self::Definitions,
            "libraries" => Self::Libraries,
            "attributes" => Self::Attributes,
            "files" => Self::Files,
            "templates" => Self::Templates,
            other => Self::Other(other.to_owned()),
        }
    }

    /// The segment's name as used in manifests (`recipes`, `root_files`, or the directory name).
    pub fn as_str(&self) -> &str {
        match self {
            Self::Resources => "resources",
            Self::Providers => "providers",
            Self::Recipes => "recipes",
            Self::Definitions => "definitions",
            Self::Libraries => "libraries",
            Self::Attributes => "attributes",
            Self::Files => "files",
            Self::Templates => "templates",
            Self::RootFiles => "root_files",
            Self::Other(name) => name,
        }
    }

    /// Whether the segment is one of the nine a v0 manifest can carry.
    pub fn is_v0(&self) -> bool {
        !matches!(self, Self::Other(_))
    }
}

impl fmt::Display for Segment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where one file goes in a manifest: its segment, v0 and v2 names and specificity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    /// The segment (first path component, or root files).
    pub segment: Segment,
    /// The record `name` in a v2 `all_files` manifest: `<segment>/<basename>`
    /// (`root_files/<name>` for root files).
    pub v2_name: String,
    /// The record `specificity`: `default`, `root_default`, or the second path component of
    /// `templates/...` and `files/...` (`host-web1`, `ubuntu-22.04`, ...).
    pub specificity: String,
}

impl Placement {
    /// The record `name` in a v0 manifest: the v2 name without its segment prefix.
    pub fn v0_name(&self) -> &str {
        self.v2_name
            .split_once('/')
            .map_or(self.v2_name.as_str(), |(_, rest)| rest)
    }
}

/// Places a file by its cookbook-relative `/`-separated path (§4.3 of the protocol notes).
///
/// ```
/// use chef_api::cookbook::segment::{place, Segment};
/// let p = place("files/host-web1/x/y.conf");
/// assert_eq!(p.segment, Segment::Files);
/// assert_eq!(p.v2_name, "files/y.conf");
/// assert_eq!(p.v0_name(), "y.conf");
/// assert_eq!(p.specificity, "host-web1");
/// ```
pub fn place(rel: &str) -> Placement {
    let parts: Vec<&str> = rel.split('/').collect();
    let basename = parts.last().copied().unwrap_or(rel);
    if parts.len() == 1 {
        return Placement {
            segment: Segment::RootFiles,
            v2_name: format!("root_files/{rel}"),
            specificity: "default".to_owned(),
        };
    }
    let segment = Segment::from_dir(parts[0]);
    let v2_name = format!("{}/{basename}", parts[0]);
    let specificity = match segment {
        Segment::Templates | Segment::Files if parts.len() == 2 => "root_default",
        Segment::Templates | Segment::Files => parts[1],
        _ => "default",
    };
    Placement {
        segment,
        v2_name,
        specificity: specificity.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::{Segment, place};

    #[track_caller]
    fn check(rel: &str, segment: Segment, v2: &str, v0: &str, spec: &str) {
        let p = place(rel);
        assert_eq!(
            (
                &p.segment,
                p.v2_name.as_str(),
                p.v0_name(),
                p.specificity.as_str()
            ),
            (&segment, v2, v0, spec),
            "{rel}"
        );
    }

    #[test]
    fn table_of_the_protocol_notes() {
        check(
            "README.md",
            Segment::RootFiles,
            "root_files/README.md",
            "README.md",
            "default",
        );
        check(
            ".rubocop.yml",
            Segment::RootFiles,
            "root_files/.rubocop.yml",
            ".rubocop.yml",
            "default",
        );
        check(
            "templates/foo.erb",
            Segment::Templates,
            "templates/foo.erb",
            "foo.erb",
            "root_default",
        );
        check(
            "files/b.txt",
            Segment::Files,
            "files/b.txt",
            "b.txt",
            "root_default",
        );
        check(
            "templates/default/a.erb",
            Segment::Templates,
            "templates/a.erb",
            "a.erb",
            "default",
        );
        check(
            "files/host-web1/x/y.conf",
            Segment::Files,
            "files/y.conf",
            "y.conf",
            "host-web1",
        );
        check(
            "files/ubuntu-22.04/y",
            Segment::Files,
            "files/y",
            "y",
            "ubuntu-22.04",
        );
        check(
            "recipes/sub/x.rb",
            Segment::Recipes,
            "recipes/x.rb",
            "x.rb",
            "default",
        );
        check(
            "libraries/a.rb",
            Segment::Libraries,
            "libraries/a.rb",
            "a.rb",
            "default",
        );
        check(
            "attributes/default.rb",
            Segment::Attributes,
            "attributes/default.rb",
            "default.rb",
            "default",
        );
        check(
            "definitions/d.rb",
            Segment::Definitions,
            "definitions/d.rb",
            "d.rb",
            "default",
        );
        check(
            "providers/p.rb",
            Segment::Providers,
            "providers/p.rb",
            "p.rb",
            "default",
        );
        check(
            "resources/r.rb",
            Segment::Resources,
            "resources/r.rb",
            "r.rb",
            "default",
        );
        check(
            "foo/bar.txt",
            Segment::Other("foo".into()),
            "foo/bar.txt",
            "bar.txt",
            "default",
        );
        check(
            "root_files/x",
            Segment::Other("root_files".into()),
            "root_files/x",
            "x",
            "default",
        );
    }

    #[test]
    fn v0_segments_in_knife_order() {
        let names: Vec<&str> = Segment::V0.iter().map(Segment::as_str).collect();
        assert_eq!(
            names,
            [
                "resources",
                "providers",
                "recipes",
                "definitions",
                "libraries",
                "attributes",
                "files",
                "templates",
                "root_files"
            ]
        );
        assert!(Segment::V0.iter().all(Segment::is_v0));
        assert!(!Segment::from_dir("foo").is_v0());
    }
}
