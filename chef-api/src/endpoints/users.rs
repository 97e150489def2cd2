//! `/users`.

use serde_json::json;

use crate::client::ChefClient;
use crate::error::Result;

impl ChefClient {
    /// Creates a user with the given public key (PEM), e.g. a `pivotal` admin for tests and
    /// demos (`POST /users` with `{"name", "admin", "public_key"}`, the goiardi / open-source
    /// server shape). Returns the server's answer (`{"uri": ...}` and more).
    ///
    /// # Errors
    /// [`crate::Error::Conflict`] when the user exists.
    pub async fn create_user(
        &self,
        name: &str,
        public_key_pem: &str,
        admin: bool,
    ) -> Result<serde_json::Value> {
        let body = json!({ "name": name, "admin": admin, "public_key": public_key_pem });
        self.post("users", &body).await
    }
}
