//! The Python exception tree (`chef_sync.exceptions`) and the one function that maps a failure
//! to it.
//!
//! ```text
//! ChefSyncError(Exception)        status, messages, server, url
//! ├── ConfigError                 + file, line
//! ├── AuthenticationError         401 / 403
//! ├── LicenseError                403 invalid-license: the server's licence expired
//! ├── NotFoundError               404
//! ├── ConflictError               409, + frozen
//! ├── ServerError                 5xx and other unexpected answers
//! ├── NetworkError                connection failures, + timed_out
//! └── TlsError                    certificate and handshake failures
//! ```
//!
//! pyo3 cannot extend native exception types under the abi3 limited API, so the classes are
//! plain `create_exception!` types and the data rides on the instance as attributes, set by
//! [`to_py_err`]. Class-level defaults (`None`, `()`, `False`) make the attributes readable on
//! instances raised from Python code too.
//!
//! The Rust libraries' error enums are converted to an [`ErrorInfo`] (one `From` impl per
//! library error, next to the code that raises it) and then to a `PyErr` here. The exception
//! class derives from chef-api's [`chef_api::error::ErrorKind`] ([`ErrorKind::from_api`]), so
//! a status becomes a kind in one place, in Rust, for Rust and Python alike.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use pyo3::exceptions::PyException;
use pyo3::prelude::*;
use pyo3::types::PyTuple;

/// Module every exception class reports as its `__module__`.
pub const EXCEPTIONS_MODULE: &str = "chef_sync.exceptions";

pyo3::create_exception!(
    chef_sync.exceptions,
    ChefSyncError,
    PyException,
    "Base class of every error raised by chef_sync. Attributes: `status` (HTTP status or None), \
     `messages` (the server's own error messages), `server` (server name or None), `url` \
     (request URL or None)."
);
pyo3::create_exception!(
    chef_sync.exceptions,
    ConfigError,
    ChefSyncError,
    "A configuration file (knife.rb, config.yml, Berksfile, metadata) or argument is invalid. \
     `file` and `line` point at the cause when known."
);
pyo3::create_exception!(
    chef_sync.exceptions,
    AuthenticationError,
    ChefSyncError,
    "The server refused the request's identity or permissions (HTTP 401 or 403): wrong key, \
     unknown client, clock skew, or missing permissions."
);
pyo3::create_exception!(
    chef_sync.exceptions,
    LicenseError,
    ChefSyncError,
    "The Chef Infra Server's licence is invalid or expired (HTTP 403 `invalid-license`); the \
     server refuses every request until it is renewed. Not an authentication problem."
);
pyo3::create_exception!(
    chef_sync.exceptions,
    NotFoundError,
    ChefSyncError,
    "The server has no such object (HTTP 404)."
);
pyo3::create_exception!(
    chef_sync.exceptions,
    ConflictError,
    ChefSyncError,
    "The object already exists or is frozen (HTTP 409). `frozen` is True when a frozen \
     cookbook version would have changed."
);
pyo3::create_exception!(
    chef_sync.exceptions,
    ServerError,
    ChefSyncError,
    "The server failed (HTTP 5xx) or answered something chef_sync cannot use."
);
pyo3::create_exception!(
    chef_sync.exceptions,
    NetworkError,
    ChefSyncError,
    "The server could not be reached, or the request timed out (`timed_out` is True then)."
);
pyo3::create_exception!(
    chef_sync.exceptions,
    TlsError,
    ChefSyncError,
    "The TLS handshake failed: untrusted or invalid certificate, or a protocol mismatch."
);

/// Which exception class a failure becomes, with the data only that class carries.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// [`ConfigError`]: a file or argument is invalid.
    Config {
        /// The file at fault, when there is one.
        file: Option<PathBuf>,
        /// 1-based line in `file`, when known.
        line: Option<u32>,
    },
    /// [`AuthenticationError`]: HTTP 401 or 403.
    Authentication,
    /// [`LicenseError`]: HTTP 403 `invalid-license`.
    License,
    /// [`NotFoundError`]: HTTP 404.
    NotFound,
    /// [`ConflictError`]: HTTP 409.
    Conflict {
        /// A frozen cookbook version would have changed.
        frozen: bool,
    },
    /// [`ServerError`]: HTTP 5xx or an unusable answer.
    Server,
    /// [`NetworkError`]: connection failure or timeout.
    Network {
        /// The request timed out.
        timed_out: bool,
    },
    /// [`TlsError`]: certificate or handshake failure.
    Tls,
    /// [`ChefSyncError`] itself: anything that fits no subclass.
    Other,
}

impl ErrorKind {
    /// The Python class name this kind maps to.
    pub fn class_name(&self) -> &'static str {
        match self {
            Self::Config { .. } => "ConfigError",
            Self::Authentication => "AuthenticationError",
            Self::License => "LicenseError",
            Self::NotFound => "NotFoundError",
            Self::Conflict { .. } => "ConflictError",
            Self::Server => "ServerError",
            Self::Network { .. } => "NetworkError",
            Self::Tls => "TlsError",
            Self::Other => "ChefSyncError",
        }
    }

    /// The exception class of chef-api's kind: the Rust classification decides, this only
    /// groups it (401 and 403 are both `AuthenticationError`; every answer the caller could
    /// not use is `ServerError`; local problems are `ConfigError`, without a position).
    pub fn from_api(kind: chef_api::error::ErrorKind) -> Self {
        use chef_api::error::ErrorKind as K;
        match kind {
            K::Unauthorized | K::Forbidden => Self::Authentication,
            K::License => Self::License,
            K::NotFound => Self::NotFound,
            K::Conflict => Self::Conflict { frozen: false },
            K::Network => Self::Network { timed_out: false },
            K::Timeout => Self::Network { timed_out: true },
            K::Tls => Self::Tls,
            // The URL is wrong (http:// to a TLS port), or a local file or value is.
            K::PlainHttpToTls | K::Key | K::Config | K::Io => Self::Config {
                file: None,
                line: None,
            },
            K::Sign | K::Other => Self::Other,
            _ => Self::Server,
        }
    }
}

/// A class name that is not one of the exception classes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownErrorKind(pub String);

impl fmt::Display for UnknownErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown chef_sync exception class {:?}", self.0)
    }
}

impl std::error::Error for UnknownErrorKind {}

impl FromStr for ErrorKind {
    type Err = UnknownErrorKind;

    /// Parses a class name (`"ConfigError"`, ...) into a kind with default data.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "ConfigError" => Self::Config {
                file: None,
                line: None,
            },
            "AuthenticationError" => Self::Authentication,
            "LicenseError" => Self::License,
            "NotFoundError" => Self::NotFound,
            "ConflictError" => Self::Conflict { frozen: false },
            "ServerError" => Self::Server,
            "NetworkError" => Self::Network { timed_out: false },
            "TlsError" => Self::Tls,
            "ChefSyncError" => Self::Other,
            other => return Err(UnknownErrorKind(other.to_owned())),
        })
    }
}

/// Everything a Python exception carries. Built from the Rust libraries' errors; never holds
/// key material (the libraries' `Display` never prints keys, and nothing else is copied here).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorInfo {
    /// Which class, and its class-specific data.
    pub kind: ErrorKind,
    /// The human message: the library error's `Display`, which already names the file and
    /// line, or the server, URL and the server's own message.
    pub message: String,
    /// HTTP status, when the failure was an HTTP answer.
    pub status: Option<u16>,
    /// The server's own error messages (Chef's `{"error": [...]}`), in order.
    pub messages: Vec<String>,
    /// Name of the server (as configured in the repository), when one was involved.
    pub server: Option<String>,
    /// The request URL, when one was involved.
    pub url: Option<String>,
}

impl ErrorInfo {
    /// An error of `kind` with `message` and no further data.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            status: None,
            messages: Vec::new(),
            server: None,
            url: None,
        }
    }

    /// Sets the server's own messages.
    pub fn with_messages(mut self, messages: Vec<String>) -> Self {
        self.messages = messages;
        self
    }

    /// Sets the server name.
    pub fn with_server(mut self, server: impl Into<String>) -> Self {
        self.server = Some(server.into());
        self
    }

    /// Sets the request URL.
    pub fn with_url(mut self, url: impl Into<String>) -> Self {
        self.url = Some(url.into());
        self
    }
}

impl From<&chef_api::Error> for ErrorInfo {
    /// Maps a chef-api error by its [`chef_api::Error::kind`]; a key or local file adds the
    /// file to [`ErrorKind::Config`].
    fn from(err: &chef_api::Error) -> Self {
        use chef_api::Error as E;
        let kind = match (ErrorKind::from_api(err.kind()), err) {
            (ErrorKind::Config { .. }, E::Key(key)) => ErrorKind::Config {
                file: key_error_path(key),
                line: None,
            },
            (ErrorKind::Config { .. }, E::Io { path, .. }) => ErrorKind::Config {
                file: Some(path.clone()),
                line: None,
            },
            (kind, _) => kind,
        };
        let mut info = Self::new(kind, err.to_string());
        info.status = err.status();
        info.messages = err.messages().to_vec();
        info.url = err.url().map(str::to_owned);
        info
    }
}

impl From<chef_api::Error> for ErrorInfo {
    fn from(err: chef_api::Error) -> Self {
        Self::from(&err)
    }
}

/// Maps a chef-api error to its Python exception (`.map_err(api_err)`; the orphan rule
/// forbids a `From` impl between two foreign types).
pub fn api_err(err: chef_api::Error) -> PyErr {
    to_py_err(ErrorInfo::from(&err))
}

/// The file a key came from, when it came from one.
fn key_error_path(err: &chef_api::key::KeyError) -> Option<PathBuf> {
    use chef_api::key::KeyError as K;
    match err {
        K::Read { path, .. } => Some(path.clone()),
        K::NotPem { path }
        | K::MalformedPem { path, .. }
        | K::Encrypted { path }
        | K::NotPrivate { path, .. }
        | K::NotRsa { path, .. }
        | K::Invalid { path, .. }
        | K::TooSmall { path, .. } => path.clone(),
        _ => None,
    }
}

impl From<&chef_api::cookbook::CookbookError> for ErrorInfo {
    /// A cookbook that cannot be loaded is a [`ErrorKind::Config`] naming the file (and line,
    /// for metadata errors that have one).
    fn from(err: &chef_api::cookbook::CookbookError) -> Self {
        use chef_api::cookbook::CookbookError as C;
        use chef_api::cookbook::metadata::MetadataError as M;
        let (file, line) = match err {
            C::Metadata { source, path } => match source {
                M::Eval(e) => (Some(e.file.clone()), Some(e.line)),
                M::Json { path, line, .. } => (Some(path.clone()), u32::try_from(*line).ok()),
                M::Io { path, .. } | M::NotAnObject { path } | M::MissingName { path } => {
                    (Some(path.clone()), None)
                }
                _ => (Some(path.clone()), None),
            },
            C::ChefignoreNotUtf8 { path, line } => (Some(path.clone()), u32::try_from(*line).ok()),
            C::Io { path, .. }
            | C::NotADirectory { path }
            | C::NonUtf8Path { path }
            | C::Empty { path }
            | C::MissingName { path } => (Some(path.clone()), None),
            _ => (None, None),
        };
        Self::new(ErrorKind::Config { file, line }, err.to_string())
    }
}

impl From<ErrorInfo> for PyErr {
    fn from(info: ErrorInfo) -> Self {
        to_py_err(info)
    }
}

/// Maps a failure to its Python exception, with the attributes set on the instance.
pub fn to_py_err(info: ErrorInfo) -> PyErr {
    Python::attach(|py| match build_exception(py, &info) {
        Ok(err) => err,
        // Setting attributes on a fresh exception only fails if Python is out of memory;
        // the message still gets through.
        Err(_) => ChefSyncError::new_err(info.message),
    })
}

fn build_exception(py: Python<'_>, info: &ErrorInfo) -> PyResult<PyErr> {
    let message = info.message.clone();
    let err = match &info.kind {
        ErrorKind::Config { .. } => ConfigError::new_err(message),
        ErrorKind::Authentication => AuthenticationError::new_err(message),
        ErrorKind::License => LicenseError::new_err(message),
        ErrorKind::NotFound => NotFoundError::new_err(message),
        ErrorKind::Conflict { .. } => ConflictError::new_err(message),
        ErrorKind::Server => ServerError::new_err(message),
        ErrorKind::Network { .. } => NetworkError::new_err(message),
        ErrorKind::Tls => TlsError::new_err(message),
        ErrorKind::Other => ChefSyncError::new_err(message),
    };
    let value = err.value(py);
    value.setattr("status", info.status)?;
    value.setattr("messages", PyTuple::new(py, &info.messages)?)?;
    value.setattr("server", info.server.as_deref())?;
    value.setattr("url", info.url.as_deref())?;
    match &info.kind {
        ErrorKind::Config { file, line } => {
            let file = file.as_ref().map(|f| f.to_string_lossy().into_owned());
            value.setattr("file", file)?;
            value.setattr("line", *line)?;
        }
        ErrorKind::Conflict { frozen } => value.setattr("frozen", *frozen)?,
        ErrorKind::Network { timed_out } => value.setattr("timed_out", *timed_out)?,
        _ => {}
    }
    Ok(err)
}

/// Adds the exception classes to `module` and sets their class-level attribute defaults.
pub fn register(module: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = module.py();
    let empty = PyTuple::empty(py);
    let base = py.get_type::<ChefSyncError>();
    for (name, value) in [
        ("status", py.None()),
        ("messages", empty.clone().into_any().unbind()),
        ("server", py.None()),
        ("url", py.None()),
    ] {
        base.setattr(name, value)?;
    }
    let config = py.get_type::<ConfigError>();
    config.setattr("file", py.None())?;
    config.setattr("line", py.None())?;
    py.get_type::<ConflictError>().setattr("frozen", false)?;
    py.get_type::<NetworkError>().setattr("timed_out", false)?;

    module.add("ChefSyncError", base)?;
    module.add("ConfigError", config)?;
    module.add("AuthenticationError", py.get_type::<AuthenticationError>())?;
    module.add("LicenseError", py.get_type::<LicenseError>())?;
    module.add("NotFoundError", py.get_type::<NotFoundError>())?;
    module.add("ConflictError", py.get_type::<ConflictError>())?;
    module.add("ServerError", py.get_type::<ServerError>())?;
    module.add("NetworkError", py.get_type::<NetworkError>())?;
    module.add("TlsError", py.get_type::<TlsError>())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_exception_class_derives_from_chef_apis_kind() {
        use chef_api::error::ErrorKind as K;
        assert_eq!(
            ErrorKind::from_api(K::Unauthorized),
            ErrorKind::Authentication
        );
        assert_eq!(ErrorKind::from_api(K::Forbidden), ErrorKind::Authentication);
        assert_eq!(ErrorKind::from_api(K::License), ErrorKind::License);
        assert_eq!(ErrorKind::from_api(K::NotFound), ErrorKind::NotFound);
        assert_eq!(
            ErrorKind::from_api(K::Timeout),
            ErrorKind::Network { timed_out: true }
        );
        assert_eq!(ErrorKind::from_api(K::BadRequest), ErrorKind::Server);
        assert_eq!(ErrorKind::from_api(K::InvalidResponse), ErrorKind::Server);
    }

    #[test]
    fn every_answered_chef_api_error_keeps_status_messages_and_url() {
        use chef_api::error::ResponseError;
        for (status, kind) in [
            (401, ErrorKind::Authentication),
            (403, ErrorKind::Authentication),
            (404, ErrorKind::NotFound),
            (409, ErrorKind::Conflict { frozen: false }),
            (400, ErrorKind::Server),
            (413, ErrorKind::Server),
            (429, ErrorKind::Server),
            (502, ErrorKind::Server),
        ] {
            let err = chef_api::Error::from_response(ResponseError::new(
                status,
                "PUT",
                "http://127.0.0.1:1/cookbooks/a/1.0.0",
                br#"{"error":["first","second"]}"#,
            ));
            let info = ErrorInfo::from(&err);
            assert_eq!(info.kind, kind, "{status}");
            assert_eq!(info.status, Some(status));
            assert_eq!(info.messages, ["first", "second"]);
            assert_eq!(
                info.url.as_deref(),
                Some("http://127.0.0.1:1/cookbooks/a/1.0.0")
            );
            assert!(info.message.contains("second"), "{}", info.message);
        }
        let license = chef_api::Error::from_response(ResponseError::new(
            403,
            "GET",
            "http://127.0.0.1:1/nodes",
            br#"{"error":"Your license has expired","message":"invalid-license"}"#,
        ));
        let info = ErrorInfo::from(&license);
        assert_eq!(info.kind, ErrorKind::License);
        assert_eq!(info.kind.class_name(), "LicenseError");
        assert_eq!(info.status, Some(403));
        let invalid = chef_api::Error::InvalidResponse {
            method: "GET".into(),
            url: "http://127.0.0.1:1/nodes".into(),
            path: ".".into(),
            message: "expected a map".into(),
        };
        let info = ErrorInfo::from(&invalid);
        assert_eq!(info.kind, ErrorKind::Server);
        assert_eq!(info.status, None);
        assert_eq!(info.url.as_deref(), Some("http://127.0.0.1:1/nodes"));
        let key = chef_api::Error::Key(chef_api::key::KeyError::NotPem {
            path: Some("/k/client.pem".into()),
        });
        assert_eq!(
            ErrorInfo::from(&key).kind,
            ErrorKind::Config {
                file: Some("/k/client.pem".into()),
                line: None
            }
        );
    }

    #[test]
    fn class_names_parse_back_to_their_kind() {
        for name in [
            "ChefSyncError",
            "ConfigError",
            "AuthenticationError",
            "LicenseError",
            "NotFoundError",
            "ConflictError",
            "ServerError",
            "NetworkError",
            "TlsError",
        ] {
            let kind: ErrorKind = name.parse().unwrap();
            assert_eq!(kind.class_name(), name);
        }
        let err = "ValueError".parse::<ErrorKind>().unwrap_err();
        assert!(err.to_string().contains("ValueError"), "{err}");
    }

    #[test]
    fn exceptions_carry_their_attributes() {
        Python::initialize();
        Python::attach(|py| {
            let info = ErrorInfo::new(
                ErrorKind::Conflict { frozen: false },
                "cookbook apache2 1.0.0 is frozen on prod",
            )
            .with_messages(vec!["frozen".into()])
            .with_server("prod")
            .with_url("https://chef.example/cookbooks/apache2/1.0.0");
            let info = ErrorInfo {
                kind: ErrorKind::Conflict { frozen: true },
                status: Some(409),
                ..info
            };
            let err = to_py_err(info);
            assert!(err.is_instance_of::<ConflictError>(py));
            assert!(err.is_instance_of::<ChefSyncError>(py));
            let value = err.value(py);
            let status: u16 = value.getattr("status").unwrap().extract().unwrap();
            assert_eq!(status, 409);
            let frozen: bool = value.getattr("frozen").unwrap().extract().unwrap();
            assert!(frozen);
            let messages: Vec<String> = value.getattr("messages").unwrap().extract().unwrap();
            assert_eq!(messages, ["frozen"]);
            let server: String = value.getattr("server").unwrap().extract().unwrap();
            assert_eq!(server, "prod");
            assert_eq!(
                value.str().unwrap().to_string(),
                "cookbook apache2 1.0.0 is frozen on prod"
            );

            let config = to_py_err(ErrorInfo::new(
                ErrorKind::Config {
                    file: Some(".chef/knife.rb".into()),
                    line: Some(7),
                },
                ".chef/knife.rb:7: unsupported call",
            ));
            assert!(config.is_instance_of::<ConfigError>(py));
            let line: u32 = config.value(py).getattr("line").unwrap().extract().unwrap();
            assert_eq!(line, 7);
            let file: String = config.value(py).getattr("file").unwrap().extract().unwrap();
            assert_eq!(file, ".chef/knife.rb");
        });
    }
}
