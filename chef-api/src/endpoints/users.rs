//! `/users`.

use rand::distr::{Alphanumeric, SampleString};
use serde_json::json;

use crate::client::ChefClient;
use crate::error::Result;

impl ChefClient {
    /// Creates a user with the given public key (PEM), e.g. a `pivotal` admin for tests and
    /// demos (`POST /users` with `{"name", "admin", "public_key"}`, the goiardi / open-source
    /// server shape). goiardi insists on a password, so a random one (never returned or logged)
    /// is sent too: the user signs in with its key. Returns the server's answer
    /// (`{"uri": ...}` and more).
    ///
    /// # Errors
    /// [`crate::Error::Conflict`] when the user exists.
    pub async fn create_user(
        &self,
        name: &str,
        public_key_pem: &str,
        admin: bool,
    ) -> Result<serde_json::Value> {
        let password = Alphanumeric.sample_string(&mut rand::rng(), 32);
        let body = json!({
            "name": name,
            "admin": admin,
            "public_key": public_key_pem,
            "password": password,
        });
        self.post("users", &body).await
    }
}
