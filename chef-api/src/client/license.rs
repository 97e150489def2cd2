//! The `X-Ops-License` header: a Chef Infra Server (≥ 15.10) whose commercial licence is in its
//! grace period says so on every answer; the client keeps the latest notice for reports.
//!
//! erchef (`oc_chef_wm_base:service_available`) sends the header as JSON:
//! `{"licenseType": …, "expirationDateTime": …, "warningMessage": …, "gracePeriod": true}`.
//! An expired licence is a 403 whose body says `invalid-license` ([`crate::Error::License`]).

use std::sync::Mutex;

use reqwest::header::HeaderMap;
use serde::Deserialize;

/// The header's name.
pub const HEADER: &str = "X-Ops-License";

/// What a server said about its licence.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LicenseNotice {
    /// `commercial`, `trial`, ...
    #[serde(default)]
    pub license_type: String,
    /// When the licence expires (or expired).
    #[serde(default)]
    pub expiration_date_time: String,
    /// The server's own warning.
    #[serde(default)]
    pub warning_message: String,
    /// Whether the server is in its grace period (still answering).
    #[serde(default)]
    pub grace_period: bool,
}

impl LicenseNotice {
    /// Reads the header, if the answer has a well-formed one.
    pub fn from_headers(headers: &HeaderMap) -> Option<Self> {
        let value = headers.get(HEADER)?.to_str().ok()?;
        serde_json::from_str(value).ok()
    }
}

impl std::fmt::Display for LicenseNotice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let message = if self.warning_message.is_empty() {
            "the server's licence needs attention"
        } else {
            &self.warning_message
        };
        write!(f, "{message}")?;
        match (
            self.license_type.is_empty(),
            self.expiration_date_time.is_empty(),
        ) {
            (false, false) => write!(
                f,
                " ({} licence, expires {})",
                self.license_type, self.expiration_date_time
            )?,
            (false, true) => write!(f, " ({} licence)", self.license_type)?,
            (true, false) => write!(f, " (expires {})", self.expiration_date_time)?,
            (true, true) => {}
        }
        if self.grace_period {
            f.write_str(" [grace period]")?;
        }
        Ok(())
    }
}

/// The latest notice a client saw.
#[derive(Debug, Default)]
pub(crate) struct LicenseState(Mutex<Option<LicenseNotice>>);

impl LicenseState {
    pub(crate) fn observe(&self, headers: &HeaderMap) {
        if let Some(notice) = LicenseNotice::from_headers(headers) {
            *self
                .0
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(notice);
        }
    }

    pub(crate) fn get(&self) -> Option<LicenseNotice> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_erchefs_grace_period_header() {
        let mut headers = HeaderMap::new();
        headers.insert(
            HEADER,
            r#"{"licenseType":"commercial","expirationDateTime":"2026-11-30","warningMessage":"Your license expired; renew within 30 days","gracePeriod":true}"#
                .parse()
                .unwrap(),
        );
        let notice = LicenseNotice::from_headers(&headers).unwrap();
        assert!(notice.grace_period);
        assert_eq!(
            notice.to_string(),
            "Your license expired; renew within 30 days (commercial licence, expires 2026-11-30) [grace period]"
        );
        let state = LicenseState::default();
        assert_eq!(state.get(), None);
        state.observe(&HeaderMap::new());
        assert_eq!(state.get(), None);
        state.observe(&headers);
        assert_eq!(state.get(), Some(notice));
        headers.insert(HEADER, "not json".parse().unwrap());
        assert_eq!(LicenseNotice::from_headers(&headers), None);
    }
}
