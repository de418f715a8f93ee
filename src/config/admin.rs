//! The admin console's settings (`admin`): the password or its hash, the
//! session, the cookie, and the weak-password check.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::CookieSecure;
#[derive(Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AdminConfig {
    /// Admin password in plain text (prefer `RAINCAST_ADMIN__PASSWORD`). Hashed with argon2 at start.
    pub password: String,
    /// Or an argon2 PHC hash (`raincast hash-password`). Empty both = admin console disabled.
    pub password_hash: String,
    /// How long a login lasts (hours).
    pub session_hours: u64,
    /// Mark the session cookie `Secure`: `auto` (when the request came over TLS or
    /// `X-Forwarded-Proto: https`), `always` or `never`.
    pub cookie_secure: CookieSecure,
    /// Refuse to start with a weak `password` (shorter than 12 characters,
    /// a common password, or only whitespace) instead of warning.
    pub require_strong_password: bool,
}

impl Default for AdminConfig {
    fn default() -> Self {
        Self {
            password: String::new(),
            password_hash: String::new(),
            session_hours: 12,
            cookie_secure: CookieSecure::Auto,
            require_strong_password: false,
        }
    }
}

/// Passwords an attacker tries first (compared ignoring case and the
/// surrounding whitespace). Short ones are refused by length anyway; the
/// list holds the long ones too.
const COMMON_PASSWORDS: &[&str] = &[
    "password",
    "password1",
    "password12",
    "password123",
    "password1234",
    "passw0rd",
    "p@ssw0rd",
    "123456",
    "12345678",
    "123456789",
    "1234567890",
    "123456789012",
    "12345678910",
    "111111111111",
    "000000000000",
    "qwerty",
    "qwerty123",
    "qwertyuiop",
    "qwertyuiop123",
    "1q2w3e4r5t6y",
    "iloveyou",
    "letmein",
    "letmein12345",
    "welcome",
    "welcome12345",
    "admin",
    "admin123",
    "administrator",
    "changeme",
    "changeme1234",
    "raincast",
    "raincastadmin",
    "raincast1234",
    "secret",
    "supersecret",
    "trustno1",
    "monkey",
    "dragon",
    "sunshine",
    "football",
    "baseball",
    "princess",
    "starwars",
    "whatever",
    "correcthorsebatterystaple",
];

impl AdminConfig {
    /// Why `admin.password` is weak, if it is: only whitespace, shorter
    /// than 12 characters, one character repeated, or a common password.
    /// `None` for a strong one, and when no plain password is set (a
    /// `password_hash` cannot be judged).
    pub fn password_weakness(&self) -> Option<&'static str> {
        let p = self.password.as_str();
        if p.is_empty() {
            return None;
        }
        if p.trim().is_empty() {
            return Some("it is only whitespace");
        }
        if p.chars().count() < 12 {
            return Some("it is shorter than 12 characters");
        }
        let mut chars = p.chars();
        if let Some(first) = chars.next()
            && chars.all(|c| c == first)
        {
            return Some("it is one character repeated");
        }
        let folded = p.trim().to_lowercase();
        if COMMON_PASSWORDS.contains(&folded.as_str())
            || COMMON_PASSWORDS.contains(&folded.replace(' ', "").as_str())
        {
            return Some("it is a common password");
        }
        None
    }
}

impl fmt::Debug for AdminConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let redact = |s: &str| if s.is_empty() { "" } else { "[redacted]" };
        f.debug_struct("AdminConfig")
            .field("password", &redact(&self.password))
            .field("password_hash", &redact(&self.password_hash))
            .field("session_hours", &self.session_hours)
            .field("cookie_secure", &self.cookie_secure)
            .field("require_strong_password", &self.require_strong_password)
            .finish()
    }
}
