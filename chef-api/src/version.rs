//! Chef cookbook versions and version constraints, with Chef's exact semantics.
//!
//! * A cookbook [`Version`] is `x.y.z` or `x.y` (meaning `x.y.0`); anything else is invalid.
//! * A [`Constraint`] is `OP VERSION` with `OP` one of `=`, `>`, `<`, `>=`, `<=`, `~>`; a bare
//!   version means `= VERSION`; `!=` does not exist in Chef and is rejected.
//! * `~> X.Y` means `>= X.Y.0, < (X+1).0.0`; `~> X.Y.Z` means `>= X.Y.Z, < X.(Y+1).0`.
//!
//! Constraints print as Chef prints them: `"OP VERSION-as-written"` with exactly one space.
//!
//! Every part is a `u64`. A part too large for one, or a `~>` whose upper bound would not fit
//! (`~> 18446744073709551615.0`), is a [`VersionError`] at parse time: these strings come
//! from files and servers chef-sync does not control (metadata.rb, Berksfile, Berksfile.lock,
//! universes), so nothing computed from them may overflow later.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

/// Why a version or constraint string was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VersionError {
    /// Not `x.y.z` or `x.y` with non-negative integers.
    #[error("invalid version {0:?}: expected x.y.z or x.y (non-negative integers)")]
    InvalidVersion(String),
    /// A part is a valid integer too large for a version part (at most `u64::MAX`).
    #[error("invalid version {0:?}: a part is larger than {max}", max = u64::MAX)]
    PartTooLarge(String),
    /// The constraint does not follow Chef's grammar.
    #[error("invalid version constraint {input:?}: {reason}")]
    InvalidConstraint {
        /// The constraint as written.
        input: String,
        /// What was wrong with it.
        reason: String,
    },
}

/// A Chef cookbook version: three non-negative integers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Version {
    /// Major part.
    pub major: u64,
    /// Minor part.
    pub minor: u64,
    /// Patch part (0 when the version was written as `x.y`).
    pub patch: u64,
}

impl Version {
    /// Builds a version from its three parts.
    pub const fn new(major: u64, minor: u64, patch: u64) -> Self {
        Self {
            major,
            minor,
            patch,
        }
    }

    /// Parses a cookbook version (`x.y.z` or `x.y`), as Chef's `Chef::Version` does.
    pub fn parse(s: &str) -> Result<Self, VersionError> {
        let (parts, _) = parse_parts(s, 2, 3).map_err(|e| e.for_version(s))?;
        Ok(Self::new(parts[0], parts[1], parts[2]))
    }

    /// Parses a platform version (`supports 'ubuntu', '>= 18'`): also accepts a bare major.
    pub fn parse_platform(s: &str) -> Result<Self, VersionError> {
        let (parts, _) = parse_parts(s, 1, 3).map_err(|e| e.for_version(s))?;
        Ok(Self::new(parts[0], parts[1], parts[2]))
    }
}

/// Why [`parse_parts`] refused its input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PartsError {
    /// Not dot-separated digits, or the wrong number of parts.
    Shape,
    /// Digits only, but the number does not fit a `u64`.
    TooLarge,
}

impl PartsError {
    fn for_version(self, s: &str) -> VersionError {
        match self {
            Self::Shape => VersionError::InvalidVersion(s.to_owned()),
            Self::TooLarge => VersionError::PartTooLarge(s.to_owned()),
        }
    }
}

/// Splits `s` into `min..=max` dot-separated non-negative integers, padding with zeros.
fn parse_parts(s: &str, min: usize, max: usize) -> Result<([u64; 3], usize), PartsError> {
    let mut out = [0u64; 3];
    let mut n = 0;
    for piece in s.split('.') {
        if n == max || piece.is_empty() || !piece.bytes().all(|b| b.is_ascii_digit()) {
            return Err(PartsError::Shape);
        }
        // Only digits here, so the one way `parse` can fail is a number beyond `u64::MAX`.
        out[n] = piece.parse().map_err(|_| PartsError::TooLarge)?;
        n += 1;
    }
    if n < min {
        return Err(PartsError::Shape);
    }
    Ok((out, n))
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

impl FromStr for Version {
    type Err = VersionError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl serde::Serialize for Version {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Version {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// A comparison operator of a Chef version constraint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    /// `=`
    Eq,
    /// `>`
    Gt,
    /// `<`
    Lt,
    /// `>=`
    Ge,
    /// `<=`
    Le,
    /// `~>` (pessimistic)
    Pessimistic,
}

impl Op {
    /// The operator as Chef writes it.
    pub const fn as_str(self) -> &'static str {
        match self {
            Op::Eq => "=",
            Op::Gt => ">",
            Op::Lt => "<",
            Op::Ge => ">=",
            Op::Le => "<=",
            Op::Pessimistic => "~>",
        }
    }
}

/// One end of the range a [`Constraint`] allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bound {
    /// The version at the edge.
    pub version: Version,
    /// Whether the edge itself is allowed.
    pub inclusive: bool,
}

/// A Chef version constraint such as `~> 1.2` or `>= 0.0.0`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Constraint {
    op: Op,
    version: Version,
    /// The version exactly as written (`1.2` stays `1.2`), used when printing.
    written: String,
    /// How many parts were written (1, 2 or 3); matters for `~>`.
    parts: usize,
    /// For `~>`: the exclusive upper bound, computed (with checked arithmetic) when parsing.
    pessimistic_upper: Option<Version>,
}

impl Constraint {
    /// `>= 0.0.0`: what `depends 'x'` with no constraint means.
    pub fn any() -> Self {
        Self {
            op: Op::Ge,
            version: Version::new(0, 0, 0),
            written: "0.0.0".to_owned(),
            parts: 3,
            pessimistic_upper: None,
        }
    }

    /// Parses a cookbook dependency constraint (versions `x.y` or `x.y.z`).
    pub fn parse(s: &str) -> Result<Self, VersionError> {
        Self::parse_with(s, 2)
    }

    /// Parses a platform constraint (`supports`), where a bare major such as `>= 8` is allowed.
    pub fn parse_platform(s: &str) -> Result<Self, VersionError> {
        Self::parse_with(s, 1)
    }

    fn parse_with(input: &str, min_parts: usize) -> Result<Self, VersionError> {
        let bad = |reason: &str| VersionError::InvalidConstraint {
            input: input.to_owned(),
            reason: reason.to_owned(),
        };
        let s = input.trim();
        if s.is_empty() {
            return Ok(Self::any());
        }
        if s.starts_with("!=") {
            return Err(bad(
                "'!=' is not a Chef constraint operator (Chef rejects it)",
            ));
        }
        let (op, rest) = if let Some(r) = s.strip_prefix("~>") {
            (Op::Pessimistic, r)
        } else if let Some(r) = s.strip_prefix(">=") {
            (Op::Ge, r)
        } else if let Some(r) = s.strip_prefix("<=") {
            (Op::Le, r)
        } else if let Some(r) = s.strip_prefix('>') {
            (Op::Gt, r)
        } else if let Some(r) = s.strip_prefix('<') {
            (Op::Lt, r)
        } else if let Some(r) = s.strip_prefix('=') {
            (Op::Eq, r)
        } else if s.starts_with(|c: char| c.is_ascii_digit()) {
            if s.contains(char::is_whitespace) {
                return Err(bad("expected 'OP VERSION' or a bare version"));
            }
            (Op::Eq, s)
        } else {
            return Err(bad(
                "expected one of =, >, <, >=, <=, ~> followed by a version",
            ));
        };
        let written = rest.trim_start();
        let (parts, n) = parse_parts(written, min_parts, 3).map_err(|e| match e {
            PartsError::Shape => bad("the version must be x.y.z or x.y (non-negative integers)"),
            PartsError::TooLarge => bad(&format!(
                "a version part is larger than {max}",
                max = u64::MAX
            )),
        })?;
        let version = Version::new(parts[0], parts[1], parts[2]);
        let pessimistic_upper = if op == Op::Pessimistic {
            let upper = pessimistic_upper(version, n).ok_or_else(|| {
                bad(&format!(
                    "the upper bound of '~>' would be beyond the largest version part ({max})",
                    max = u64::MAX
                ))
            })?;
            Some(upper)
        } else {
            None
        };
        Ok(Self {
            op,
            version,
            written: written.to_owned(),
            parts: n,
            pessimistic_upper,
        })
    }

    /// The operator.
    pub fn op(&self) -> Op {
        self.op
    }

    /// The version (padded to three parts).
    pub fn version(&self) -> Version {
        self.version
    }

    /// Does `v` satisfy this constraint?
    pub fn matches(&self, v: &Version) -> bool {
        let c = &self.version;
        match self.op {
            Op::Eq => v == c,
            Op::Gt => v > c,
            Op::Lt => v < c,
            Op::Ge => v >= c,
            Op::Le => v <= c,
            Op::Pessimistic => {
                let (lo, hi) = self.pessimistic_bounds();
                v >= &lo && v < &hi
            }
        }
    }

    /// For `~>`: the inclusive lower and exclusive upper bound.
    fn pessimistic_bounds(&self) -> (Version, Version) {
        // Parsing refuses a `~>` without an upper bound; `MAX` only keeps this total.
        let max = Version::new(u64::MAX, u64::MAX, u64::MAX);
        (self.version, self.pessimistic_upper.unwrap_or(max))
    }

    /// The range this constraint allows as (lower, upper) bounds; `None` means unbounded.
    /// Useful for resolvers.
    pub fn bounds(&self) -> (Option<Bound>, Option<Bound>) {
        let c = self.version;
        let incl = |version| {
            Some(Bound {
                version,
                inclusive: true,
            })
        };
        let excl = |version| {
            Some(Bound {
                version,
                inclusive: false,
            })
        };
        match self.op {
            Op::Eq => (incl(c), incl(c)),
            Op::Gt => (excl(c), None),
            Op::Ge => (incl(c), None),
            Op::Lt => (None, excl(c)),
            Op::Le => (None, incl(c)),
            Op::Pessimistic => {
                let (lo, hi) = self.pessimistic_bounds();
                (incl(lo), excl(hi))
            }
        }
    }
}

/// The exclusive upper bound of `~> c` written with `parts` parts, or `None` when it does not
/// fit in a `u64`: `~> X` and `~> X.Y` allow up to `(X+1).0.0`, `~> X.Y.Z` up to `X.(Y+1).0`.
fn pessimistic_upper(c: Version, parts: usize) -> Option<Version> {
    if parts <= 2 {
        Some(Version::new(c.major.checked_add(1)?, 0, 0))
    } else {
        Some(Version::new(c.major, c.minor.checked_add(1)?, 0))
    }
}

impl fmt::Display for Constraint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.op.as_str(), self.written)
    }
}

impl FromStr for Constraint {
    type Err = VersionError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl PartialOrd for Constraint {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Constraint {
    fn cmp(&self, other: &Self) -> Ordering {
        self.to_string().cmp(&other.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Version {
        Version::parse(s).unwrap()
    }

    #[test]
    fn versions_parse_like_chef() {
        assert_eq!(v("1.2"), Version::new(1, 2, 0));
        assert_eq!(v("10.20.30").to_string(), "10.20.30");
        for bad in ["1", "1.2.3.4", "v1.2.3", "1.2.3-rc1", "", "1..2", "1.2."] {
            assert!(Version::parse(bad).is_err(), "{bad} should be rejected");
        }
        assert_eq!(Version::parse_platform("8").unwrap(), Version::new(8, 0, 0));
    }

    #[test]
    fn constraints_print_as_written() {
        assert_eq!(Constraint::parse("~> 1.2").unwrap().to_string(), "~> 1.2");
        assert_eq!(Constraint::parse("~>1.2").unwrap().to_string(), "~> 1.2");
        assert_eq!(Constraint::parse("1.2.3").unwrap().to_string(), "= 1.2.3");
        assert_eq!(Constraint::parse("").unwrap().to_string(), ">= 0.0.0");
    }

    #[test]
    fn constraint_semantics() {
        let c = |s: &str| Constraint::parse(s).unwrap();
        assert!(c("~> 1.2").matches(&v("1.9.9")));
        assert!(!c("~> 1.2").matches(&v("2.0.0")));
        assert!(!c("~> 1.2").matches(&v("1.1.9")));
        assert!(c("~> 1.2.3").matches(&v("1.2.9")));
        assert!(!c("~> 1.2.3").matches(&v("1.3.0")));
        assert!(c("= 1.2").matches(&v("1.2.0")));
        assert!(c("> 1.2").matches(&v("1.2.1")));
        assert!(!c("< 1.2").matches(&v("1.2.0")));
        assert!(c("<= 1.2").matches(&v("1.2.0")));
        assert!(c(">= 0.0.0").matches(&v("0.0.0")));
    }

    #[test]
    fn rejects_what_chef_rejects() {
        for bad in [
            "!= 1.0",
            "<< 1.0",
            ">= 1.0, < 2.0",
            "~> x",
            ">= 1",
            "1.0 beta",
        ] {
            assert!(Constraint::parse(bad).is_err(), "{bad} should be rejected");
        }
        assert!(Constraint::parse_platform(">= 8").is_ok());
    }

    /// Issue #17: a `~>` at the edge of `u64` overflowed when its upper bound was computed.
    #[test]
    fn pessimistic_constraints_at_the_edge_of_u64_are_errors_not_panics() {
        let max = u64::MAX;
        for bad in [
            format!("~> {max}.0"),
            format!("~> {max}.5"),
            format!("~> 1.{max}.0"),
        ] {
            let err = Constraint::parse(&bad).unwrap_err().to_string();
            assert!(err.contains("upper bound of '~>'"), "{bad}: {err}");
        }
        assert!(Constraint::parse_platform(&format!("~> {max}")).is_err());
        // One below the edge still works, and its bounds are exact.
        let c = Constraint::parse(&format!("~> {}.0", max - 1)).unwrap();
        assert!(c.matches(&Version::new(max - 1, 7, 7)));
        assert!(!c.matches(&Version::new(max, 0, 0)));
        let c = Constraint::parse(&format!("~> {max}.{}.3", max - 1)).unwrap();
        assert_eq!(
            c.bounds().1.map(|b| b.version),
            Some(Version::new(max, max, 0))
        );
        // `>= MAX.MAX.MAX` needs no arithmetic and is fine.
        assert!(Constraint::parse(&format!(">= {max}.{max}.{max}")).is_ok());
    }

    #[test]
    fn numbers_beyond_u64_are_named_as_such() {
        let big = "18446744073709551616";
        let err = Version::parse(&format!("1.{big}.0")).unwrap_err();
        assert!(matches!(err, VersionError::PartTooLarge(_)), "{err}");
        assert!(err.to_string().contains("larger than"), "{err}");
        let err = Constraint::parse(&format!(">= {big}.0")).unwrap_err();
        assert!(err.to_string().contains("larger than"), "{err}");
        assert!(matches!(
            Version::parse("1.x.0"),
            Err(VersionError::InvalidVersion(_))
        ));
    }
}
