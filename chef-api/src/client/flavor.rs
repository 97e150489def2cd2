//! Which server implementation answers: goiardi marks every answer with `X-Goiardi: yes`
//! (goiardi.go, `ServeHTTP`, beside `X-Goiardi-Version` and an `X-Ops-API-Info` naming
//! `goiardi=VERSION`); erchef sends none of these. Callers use it for server quirks only,
//! never for what the Chef API promises.

use std::sync::atomic::{AtomicBool, Ordering};

use reqwest::header::HeaderMap;

/// goiardi's marker header.
pub const GOIARDI_HEADER: &str = "X-Goiardi";

/// Whether an answer came from goiardi.
pub fn is_goiardi_answer(headers: &HeaderMap) -> bool {
    headers
        .get(GOIARDI_HEADER)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("yes"))
}

/// Set once any answer of the server carried goiardi's marker.
#[derive(Debug, Default)]
pub(crate) struct FlavorState(AtomicBool);

impl FlavorState {
    pub(crate) fn observe(&self, headers: &HeaderMap) {
        if is_goiardi_answer(headers) {
            self.0.store(true, Ordering::Relaxed);
        }
    }

    pub(crate) fn is_goiardi(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn only_goiardis_yes_marks_an_answer() {
        let state = FlavorState::default();
        let mut headers = HeaderMap::new();
        headers.insert(
            "X-Ops-API-Info",
            HeaderValue::from_static("flavor=cs;version:15"),
        );
        state.observe(&headers);
        assert!(!state.is_goiardi());
        headers.insert(GOIARDI_HEADER, HeaderValue::from_static("no"));
        state.observe(&headers);
        assert!(!state.is_goiardi());
        headers.insert(GOIARDI_HEADER, HeaderValue::from_static("yes"));
        state.observe(&headers);
        assert!(state.is_goiardi());
        // It sticks: one server is one implementation.
        state.observe(&HeaderMap::new());
        assert!(state.is_goiardi());
    }
}
