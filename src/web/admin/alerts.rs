//! Webhook alerts in the console: the subscriptions (add, delete) and the
//! newest deliveries with every attempt (status, latency, error).

use askama::Template;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect};

use super::auth::Admin;
use super::{AdminError, Page, load};
use crate::issue::{ISSUES, Issue};
use crate::store::{AlertFormat, Delivery, NewSubscription, StoreError};
use crate::web::AppState;
use crate::web::error::{ApiError, blocking};

/// Deliveries listed on the page.
const SHOWN: usize = 50;

/// The amounts a subscription may name: those every forecast gives a
/// chance for ([`crate::amounts::THRESHOLDS`]); 1 means more than 1 mm,
/// BOM's rain day, the others at least that much.
pub const THRESHOLDS_MM: [f64; crate::amounts::N] = {
    let mut out = [0.0; crate::amounts::N];
    let mut k = 0;
    while k < out.len() {
        out[k] = crate::amounts::THRESHOLDS[k].mm;
        k += 1;
    }
    out
};

pub struct SubscriptionView {
    pub id: i64,
    pub location: String,
    pub name: String,
    pub rule: String,
    pub issues: String,
    pub url: String,
    pub format: &'static str,
    pub created: String,
}

pub struct DeliveryView {
    pub d: Delivery,
    pub name: String,
    pub percent: String,
    /// "#1 HTTP 500 in 12 ms; #2 no answer … in 2001 ms".
    pub attempts: Vec<String>,
}

#[derive(Template)]
#[template(path = "admin/alerts.html")]
struct AlertsPage {
    csrf: String,
    message: Option<String>,
    subscriptions: Vec<SubscriptionView>,
    deliveries: Vec<DeliveryView>,
    pending: u64,
    cities: Vec<(&'static str, &'static str)>,
    issues: Vec<(&'static str, &'static str)>,
    /// (form value, label) of each amount a subscription may name.
    thresholds: Vec<(String, String)>,
    max_pending: u32,
    max_attempts: u32,
}

/// A city's name for people ("Sydney Airport"), its identifier when unknown.
fn city_name(location: &str) -> String {
    crate::stations::display_name(location).to_string()
}

fn percent(p: f64) -> String {
    let v = format!("{:.1}", p * 100.0);
    format!("{}\u{a0}%", v.trim_end_matches(".0"))
}

fn attempt_line(a: &crate::store::Attempt) -> String {
    let what = match (a.http_status, &a.error) {
        (Some(s), None) => format!("HTTP {s}"),
        (_, Some(e)) => e.clone(),
        (None, None) => "no answer".into(),
    };
    format!("#{} {} {what} in {} ms", a.n, a.at, a.latency_ms)
}

pub(super) async fn alerts_page(State(s): State<AppState>, admin: Admin) -> Page {
    let store = s.store.clone();
    let (subs, deliveries, pending) = load(move || {
        Ok((
            store.subscriptions()?,
            store.deliveries(SHOWN)?,
            store.pending_deliveries()?,
        ))
    })
    .await?;
    let subscriptions = subs
        .into_iter()
        .map(|x| SubscriptionView {
            name: city_name(&x.location),
            rule: format!(
                "{} at {} or more",
                crate::amounts::event_of(x.threshold_mm),
                percent(x.min_chance)
            ),
            issues: x
                .issues
                .iter()
                .map(|i| i.name())
                .collect::<Vec<_>>()
                .join(", "),
            url: x.url,
            format: x.format.name(),
            created: x.created_at,
            location: x.location,
            id: x.id,
        })
        .collect();
    let deliveries = deliveries
        .into_iter()
        .map(|d| DeliveryView {
            name: city_name(&d.location),
            percent: percent(d.probability),
            attempts: d.attempt_log.iter().map(attempt_line).collect(),
            d,
        })
        .collect();
    let mut cities: Vec<(&str, &str)> = crate::stations::STATIONS
        .iter()
        .map(|st| (st.location, crate::stations::display_name(st.location)))
        .collect();
    cities.sort_by_key(|c| c.1);
    Ok(s.page(&AlertsPage {
        csrf: admin.csrf,
        message: s.auth.take_notice(&admin.session),
        subscriptions,
        deliveries,
        pending,
        cities,
        issues: ISSUES.iter().map(|i| (i.name(), i.label())).collect(),
        thresholds: crate::amounts::THRESHOLDS
            .iter()
            .map(|t| (t.mm.to_string(), t.event()))
            .collect(),
        max_pending: s.config.alerts.max_pending,
        max_attempts: s.config.alerts.max_attempts,
    }))
}

/// A refused form field: (field, message).
pub type FieldError = (&'static str, String);

/// The subscription form's fields, checked: each refusal names its field.
pub fn parse_subscription(pairs: &[(String, String)]) -> Result<NewSubscription, FieldError> {
    let one = |k: &'static str| -> Result<&str, FieldError> {
        let mut it = pairs.iter().filter(|(n, _)| n == k);
        match (it.next(), it.next()) {
            (Some((_, v)), None) => Ok(v.trim()),
            (None, _) => Err((k, "is missing".into())),
            (Some(_), Some(_)) => Err((k, "is given more than once".into())),
        }
    };
    let loc = one("location")?;
    let station = crate::stations::by_location(loc).ok_or_else(|| {
        (
            "location",
            format!("`{loc}` is not one of the 49 cities (use its identifier, e.g. SydneyAirport)"),
        )
    })?;
    let threshold_text = one("threshold_mm")?;
    let threshold_mm: f64 = threshold_text
        .parse()
        .ok()
        .filter(|v: &f64| v.is_finite())
        .ok_or_else(|| {
            (
                "threshold_mm",
                format!("`{threshold_text}` is not a number of millimetres"),
            )
        })?;
    if !THRESHOLDS_MM.contains(&threshold_mm) {
        return Err((
            "threshold_mm",
            format!(
                "{threshold_mm} mm is not forecast: choose one of 0.2, 1 (more than 1 mm, BOM's \
                 rain day), 2, 5, 10, 15, 25 or 50"
            ),
        ));
    }
    let chance_text = one("min_chance")?;
    let chance: f64 = chance_text
        .trim_end_matches('%')
        .trim()
        .parse()
        .ok()
        .filter(|v: &f64| v.is_finite())
        .ok_or_else(|| {
            (
                "min_chance",
                format!("`{chance_text}` is not a percentage (a number from 1 to 100)"),
            )
        })?;
    if !(1.0..=100.0).contains(&chance) {
        return Err((
            "min_chance",
            format!("{chance} % is out of range: give 1 to 100"),
        ));
    }
    let mut issues = Vec::new();
    for (_, v) in pairs.iter().filter(|(n, _)| n == "issues") {
        let issue = Issue::parse(v.trim()).ok_or_else(|| {
            (
                "issues",
                format!(
                    "`{}` is not an issue (day_before, morning, afternoon)",
                    v.trim()
                ),
            )
        })?;
        if !issues.contains(&issue) {
            issues.push(issue);
        }
    }
    if issues.is_empty() {
        return Err((
            "issues",
            "choose at least one issue (day_before, morning, afternoon)".into(),
        ));
    }
    issues.sort();
    let url = one("url")?;
    let parsed =
        reqwest::Url::parse(url).map_err(|e| ("url", format!("`{url}` is not a URL ({e})")))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none_or(str::is_empty) {
        return Err((
            "url",
            format!("`{url}` must be an http:// or https:// address with a host"),
        ));
    }
    if url.len() > 2000 {
        return Err(("url", "is longer than 2000 characters".into()));
    }
    let secret = one("secret")?;
    if secret.chars().count() < 16 || secret.len() > 256 {
        return Err((
            "secret",
            "must be 16 to 256 characters: it keys each delivery's HMAC-SHA256 signature, \
             and the receiver needs the same"
                .into(),
        ));
    }
    let format_text = one("format")?;
    let format = AlertFormat::parse(format_text).ok_or_else(|| {
        (
            "format",
            format!("`{format_text}` is not a body format (json or text)"),
        )
    })?;
    Ok(NewSubscription {
        location: station.location.to_string(),
        threshold_mm,
        min_chance: chance / 100.0,
        issues,
        url: url.to_string(),
        secret: secret.to_string(),
        format,
    })
}

/// `POST /admin/alerts`: add a subscription.
pub(super) async fn add(
    State(s): State<AppState>,
    admin: Admin,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Page {
    let csrf = pairs
        .iter()
        .find(|(k, _)| k == "csrf")
        .map_or("", |(_, v)| v.as_str());
    admin.check_csrf(csrf)?;
    let sub = parse_subscription(&pairs).map_err(|(field, message)| {
        AdminError::refused(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Subscription refused",
            format!("{field}: {message}"),
        )
    })?;
    let store = s.store.clone();
    let (location, chance) = (sub.location.clone(), sub.min_chance);
    let id = blocking(move || Ok(store.add_subscription(&sub)?)).await?;
    tracing::info!(subscription = id, %location, "alert subscription added");
    s.auth.set_notice(
        &admin.session,
        format!(
            "Subscription {id} added: {} at {} or more.",
            crate::stations::display_name(&location),
            percent(chance)
        ),
    );
    Ok(Redirect::to("/admin/alerts").into_response())
}

#[derive(serde::Deserialize)]
pub(super) struct DeleteForm {
    #[serde(default)]
    csrf: String,
}

/// `POST /admin/alerts/{id}/delete`: delete a subscription, cancelling
/// its waiting deliveries.
pub(super) async fn delete(
    State(s): State<AppState>,
    admin: Admin,
    Path(id): Path<String>,
    Form(form): Form<DeleteForm>,
) -> Page {
    admin.check_csrf(&form.csrf)?;
    let not_found = |id: &str| -> AdminError {
        AdminError::refused(
            StatusCode::NOT_FOUND,
            "No such subscription",
            format!("There is no live alert subscription {id}."),
        )
    };
    let Ok(n) = id.parse::<i64>() else {
        return Err(not_found(&id));
    };
    let store = s.store.clone();
    let cancelled = match blocking(move || {
        store.delete_subscription(n).map_err(|e| match e {
            StoreError::NotFound(m) => ApiError::NotFound {
                field: None,
                message: m,
            },
            e => e.into(),
        })
    })
    .await
    {
        Ok(c) => c,
        Err(ApiError::NotFound { .. }) => return Err(not_found(&id)),
        Err(e) => return Err(e.into()),
    };
    tracing::info!(subscription = n, cancelled, "alert subscription deleted");
    s.auth.set_notice(
        &admin.session,
        format!("Subscription {n} deleted; {cancelled} waiting deliveries cancelled."),
    );
    Ok(Redirect::to("/admin/alerts").into_response())
}

/// `POST /admin/alerts/deliveries/{id}/resend`: send a failed or dropped
/// delivery again, with `alerts.max_attempts` more attempts.
pub(super) async fn resend(
    State(s): State<AppState>,
    admin: Admin,
    Path(id): Path<String>,
    Form(form): Form<DeleteForm>,
) -> Page {
    admin.check_csrf(&form.csrf)?;
    let not_found = || -> AdminError {
        AdminError::refused(
            StatusCode::NOT_FOUND,
            "No such delivery",
            format!(
                "There is no alert delivery {}.",
                id.chars().take(30).collect::<String>()
            ),
        )
    };
    let Ok(n) = id.parse::<i64>() else {
        return Err(not_found());
    };
    let store = s.store.clone();
    match crate::runtime::spawn_blocking(move || store.resend_delivery(n, chrono::Utc::now())).await
    {
        Ok(Ok(())) => {}
        Ok(Err(StoreError::NotFound(_))) => return Err(not_found()),
        Ok(Err(StoreError::Conflict(m))) => {
            return Err(AdminError::refused(
                StatusCode::CONFLICT,
                "Not sent again",
                &m,
            ));
        }
        Ok(Err(e)) => return Err(ApiError::from(e).into()),
        Err(e) => return Err(ApiError::Internal(e.into()).into()),
    }
    tracing::info!(delivery = n, "alert delivery sent again by the admin");
    s.auth.set_notice(
        &admin.session,
        format!("Delivery {n} is waiting to be sent again."),
    );
    Ok(Redirect::to("/admin/alerts").into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(extra: &[(&str, &str)], skip: &str) -> Vec<(String, String)> {
        let base = [
            ("csrf", "x"),
            ("location", "Sydney"),
            ("threshold_mm", "1"),
            ("min_chance", "60"),
            ("issues", "morning"),
            ("issues", "afternoon"),
            ("url", "http://127.0.0.1:8123/api/webhook/rain"),
            ("secret", "0123456789abcdef"),
            ("format", "json"),
        ];
        base.iter()
            .filter(|(k, _)| *k != skip)
            .chain(extra)
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn a_good_form_parses() {
        let s = parse_subscription(&form(&[], "")).unwrap();
        assert_eq!(s.location, "Sydney");
        assert_eq!(s.min_chance, 0.6);
        assert_eq!(s.threshold_mm, 1.0);
        assert_eq!(s.issues, [Issue::Morning, Issue::Afternoon]);
        assert_eq!(s.format, AlertFormat::Json);
    }

    /// Each bad field is refused with a message that names it and says why.
    #[test]
    fn bad_fields_are_named() {
        let cases: &[(&str, &str, &str)] = &[
            (
                "location",
                "Atlantis",
                "`Atlantis` is not one of the 49 cities",
            ),
            ("threshold_mm", "3", "3 mm is not forecast"),
            (
                "threshold_mm",
                "lots",
                "`lots` is not a number of millimetres",
            ),
            ("min_chance", "0", "0 % is out of range"),
            ("min_chance", "150", "150 % is out of range"),
            ("min_chance", "NaN", "`NaN` is not a percentage"),
            ("url", "ftp://x/y", "must be an http:// or https:// address"),
            ("url", "not a url", "is not a URL"),
            ("secret", "short", "must be 16 to 256 characters"),
            ("format", "xml", "`xml` is not a body format"),
        ];
        for (field, value, says) in cases {
            let err = parse_subscription(&form(&[(field, value)], field)).unwrap_err();
            assert_eq!(err.0, *field, "{value}");
            assert!(err.1.contains(says), "{field}={value}: {}", err.1);
        }
        let err = parse_subscription(&form(&[], "issues")).unwrap_err();
        assert_eq!(err.0, "issues");
        assert!(err.1.contains("choose at least one"), "{}", err.1);
        let err = parse_subscription(&form(&[("issues", "noon")], "")).unwrap_err();
        assert!(err.1.contains("`noon` is not an issue"), "{}", err.1);
        let err = parse_subscription(&form(&[], "url")).unwrap_err();
        assert_eq!(err, ("url", "is missing".to_string()));
        let err = parse_subscription(&form(&[("location", "Perth")], "")).unwrap_err();
        assert_eq!(err, ("location", "is given more than once".to_string()));
        assert!(parse_subscription(&form(&[("min_chance", "35 %")], "min_chance")).is_ok());
    }
}
