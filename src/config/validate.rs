//! The checks serde's types cannot express, each naming its key.

use super::{Config, ConfigError, LocalTime, invalid};

impl Config {
    /// Checks that serde's types cannot express.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.database.path.as_os_str().is_empty() {
            return Err(invalid("database.path", "must not be empty"));
        }
        if self.admin.require_strong_password
            && let Some(why) = self.admin.password_weakness()
        {
            return Err(invalid(
                "admin.password",
                format!(
                    "the admin password is weak ({why}) and admin.require_strong_password is set; use 12 or more characters that are not a common password"
                ),
            ));
        }
        if self.server.body_limit_bytes < 1024 {
            return Err(invalid("server.body_limit_bytes", "must be at least 1024"));
        }
        if self.server.stale_after_days < 1 {
            return Err(invalid("server.stale_after_days", "must be at least 1"));
        }
        let primary = self.server.primary_url.trim();
        let web = primary.starts_with("http://") || primary.starts_with("https://");
        if !primary.is_empty() && !web {
            return Err(invalid(
                "server.primary_url",
                "must start with http:// or https:// (or be empty)",
            ));
        }
        if self.server.champion_poll_secs == 0 {
            return Err(invalid("server.champion_poll_secs", "must be at least 1"));
        }
        for p in self.server.trusted_proxies.split(',').map(str::trim) {
            if !p.is_empty() && p.parse::<std::net::IpAddr>().is_err() {
                return Err(invalid(
                    "server.trusted_proxies",
                    format!("`{p}` is not an IP address"),
                ));
            }
        }
        if !(1..=300).contains(&self.server.header_timeout_secs) {
            return Err(invalid(
                "server.header_timeout_secs",
                "must be between 1 and 300",
            ));
        }
        if !(1..=300).contains(&self.server.body_timeout_secs) {
            return Err(invalid(
                "server.body_timeout_secs",
                "must be between 1 and 300",
            ));
        }
        if self.server.predict_max_cost < 2 * crate::web::api::MAX_BATCH {
            return Err(invalid(
                "server.predict_max_cost",
                format!(
                    "must be at least {} (a full batch of old dates)",
                    2 * crate::web::api::MAX_BATCH
                ),
            ));
        }
        if self.server.max_reads_in_flight < 1 {
            return Err(invalid("server.max_reads_in_flight", "must be at least 1"));
        }
        if self.server.max_connections < 2 {
            return Err(invalid("server.max_connections", "must be at least 2"));
        }
        let url = self.bom.base_url.trim_end_matches('/');
        if !(url.starts_with("http://") || url.starts_with("https://")) || url.len() < 10 {
            return Err(invalid(
                "bom.base_url",
                format!("`{}` is not an http(s) URL", self.bom.base_url),
            ));
        }
        let (morning, afternoon) = (self.bom.shows_morning, self.bom.shows_afternoon);
        if morning < LocalTime::hm(9, 0) {
            return Err(invalid(
                "bom.shows_morning",
                format!("{morning} is before the 9 am observations it shows; use 09:00 or later"),
            ));
        }
        if afternoon < LocalTime::hm(15, 0) || afternoon <= morning {
            return Err(invalid(
                "bom.shows_afternoon",
                format!(
                    "{afternoon} must be at or after 15:00 (the 3 pm observations it shows) and after bom.shows_morning ({morning})"
                ),
            ));
        }
        if self.bom.user_agent.trim().is_empty() {
            return Err(invalid("bom.user_agent", "must not be empty"));
        }
        if self.bom.timeout_secs == 0 {
            return Err(invalid("bom.timeout_secs", "must be at least 1"));
        }
        if !(1..=16).contains(&self.bom.concurrency) {
            return Err(invalid("bom.concurrency", "must be between 1 and 16"));
        }
        if self.bom.retries > 10 {
            return Err(invalid("bom.retries", "must be at most 10"));
        }
        if self.bom.revise_days > 28 {
            return Err(invalid("bom.revise_days", "must be at most 28"));
        }
        let ftp = &self.ftp;
        if ftp.host.trim().is_empty() {
            return Err(invalid("ftp.host", "must not be empty"));
        }
        if ftp.port == 0 {
            return Err(invalid("ftp.port", "must be a port number (1-65535)"));
        }
        if ftp.poll_minutes < 10 {
            return Err(invalid(
                "ftp.poll_minutes",
                "must be at least 10: BOM updates the observation products about every 10 minutes",
            ));
        }
        if !(1..=300).contains(&ftp.timeout_secs) {
            return Err(invalid("ftp.timeout_secs", "must be between 1 and 300"));
        }
        if !(1..=90).contains(&ftp.tolerance_minutes) {
            return Err(invalid("ftp.tolerance_minutes", "must be between 1 and 90"));
        }
        let mut seen = Vec::new();
        for name in self.sources.order.split(',').map(str::trim) {
            let Some(c) = super::Channel::parse(name) else {
                return Err(invalid(
                    "sources.order",
                    format!("`{name}` is not a source: use website and/or ftp, comma-separated"),
                ));
            };
            if seen.contains(&c) {
                return Err(invalid("sources.order", format!("`{name}` is named twice")));
            }
            seen.push(c);
        }
        if self.schedule.max_log_lines < 10 {
            return Err(invalid("schedule.max_log_lines", "must be at least 10"));
        }
        if !(3..=3600).contains(&self.schedule.job_lease_secs) {
            return Err(invalid(
                "schedule.job_lease_secs",
                "must be between 3 and 3600",
            ));
        }
        if self.schedule.scrape_retries > 10 {
            return Err(invalid("schedule.scrape_retries", "must be at most 10"));
        }
        use linfa::ParamGuard;
        let params = self.model.forest_params();
        params.check().map_err(|e| match e {
            crate::forest::ForestError::InvalidParam { field, reason } => {
                invalid(&format!("model.{field}"), reason)
            }
            other => invalid("model", other.to_string()),
        })?;
        self.model.boost_params().check().map_err(|e| match e {
            crate::forest::ForestError::InvalidParam { field, reason } => {
                invalid(&format!("model.boost_{field}"), reason)
            }
            other => invalid("model", other.to_string()),
        })?;
        if self.model.test_months == 0 || self.model.test_months > 120 {
            return Err(invalid("model.test_months", "must be between 1 and 120"));
        }
        if self.model.tune_months == 0 || self.model.tune_months > 120 {
            return Err(invalid("model.tune_months", "must be between 1 and 120"));
        }
        if self.model.keep_deployed == 0 {
            return Err(invalid(
                "model.keep_deployed",
                "must be at least 1 (the champion is always kept)",
            ));
        }
        if !self.model.promotion_margin.is_finite() || self.model.promotion_margin.abs() > 1.0 {
            return Err(invalid(
                "model.promotion_margin",
                "must be a number between -1 and 1",
            ));
        }
        if !self.admin.password_hash.is_empty()
            && argon2::PasswordHash::new(&self.admin.password_hash).is_err()
        {
            return Err(invalid(
                "admin.password_hash",
                "is not an argon2 PHC string (make one with `raincast hash-password`)",
            ));
        }
        if self.admin.session_hours == 0 {
            return Err(invalid("admin.session_hours", "must be at least 1"));
        }
        let a = &self.alerts;
        if !(1..=120).contains(&a.timeout_secs) {
            return Err(invalid("alerts.timeout_secs", "must be between 1 and 120"));
        }
        if !(1..=100).contains(&a.max_attempts) {
            return Err(invalid("alerts.max_attempts", "must be between 1 and 100"));
        }
        if !(1..=86_400).contains(&a.backoff_secs) {
            return Err(invalid(
                "alerts.backoff_secs",
                "must be between 1 and 86400",
            ));
        }
        if a.max_backoff_secs < a.backoff_secs || a.max_backoff_secs > 7 * 86_400 {
            return Err(invalid(
                "alerts.max_backoff_secs",
                format!(
                    "must be at least alerts.backoff_secs ({}) and at most 604800 (a week)",
                    a.backoff_secs
                ),
            ));
        }
        if !(1..=10_000).contains(&a.max_pending) {
            return Err(invalid("alerts.max_pending", "must be between 1 and 10000"));
        }
        if !(1..=64).contains(&a.concurrency) {
            return Err(invalid("alerts.concurrency", "must be between 1 and 64"));
        }
        Ok(())
    }
}
