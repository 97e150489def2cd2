//! Where in a file something went wrong: what configuration and Berkshelf errors carry, typed,
//! so that callers (the Python bindings, editors) never parse it back out of a message.

use std::path::PathBuf;

/// A file and, when known, a 1-based line and column. Displays as `file:line:column`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Position {
    /// The file.
    pub file: PathBuf,
    /// 1-based line.
    pub line: Option<u32>,
    /// 1-based column, in characters.
    pub column: Option<u32>,
}

impl Position {
    /// The file itself, no line.
    pub fn file(file: impl Into<PathBuf>) -> Self {
        Self {
            file: file.into(),
            line: None,
            column: None,
        }
    }

    /// A line (and column) in `file`.
    pub fn at(file: impl Into<PathBuf>, line: u32, column: Option<u32>) -> Self {
        Self {
            file: file.into(),
            line: Some(line),
            column,
        }
    }
}

impl From<&chef_api::ruby::EvalError> for Position {
    fn from(e: &chef_api::ruby::EvalError) -> Self {
        Self::at(e.file.clone(), e.line, Some(e.column))
    }
}

impl std::fmt::Display for Position {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(column) = self.column {
                write!(f, ":{column}")?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn displays_as_file_line_column() {
        assert_eq!(Position::file("/r/Berksfile").to_string(), "/r/Berksfile");
        assert_eq!(
            Position::at("/r/Berksfile", 3, None).to_string(),
            "/r/Berksfile:3"
        );
        assert_eq!(
            Position::at("C:/r/knife.rb", 3, Some(7)).to_string(),
            "C:/r/knife.rb:3:7"
        );
    }
}
