//! What every HTML-answering module shares, kept apart from any one of them
//! so that the public pages, the admin console and the replica's refusal do
//! not import each other: rendering a template, the error page, and the
//! dates as Australians write them.

use askama::Template;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use chrono::NaiveDate;

use super::error::ApiError;

/// Render a template, turning a template failure into a 500.
pub fn render(t: &impl Template) -> Response {
    render_with(t, None)
}

/// Render a template with the demo banner's day (`demo_day`, which
/// `base.html` reads) when the process is a demo.
pub fn render_with(t: &impl Template, demo_day: Option<String>) -> Response {
    let rendered = match demo_day {
        Some(day) => {
            let day: Box<dyn std::any::Any> = Box::new(day);
            t.render_with_values(&("demo_day", day))
        }
        None => t.render(),
    };
    match rendered {
        Ok(html) => Html(html).into_response(),
        Err(e) => ApiError::Internal(anyhow::anyhow!("template: {e}")).into_response(),
    }
}

/// A page-shaped error (HTML, with the right status).
pub fn error_page(status: StatusCode, title: &str, message: &str) -> Response {
    let page = ErrorPage {
        title: title.to_string(),
        message: message.to_string(),
    };
    (status, render(&page)).into_response()
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    title: String,
    message: String,
}

/// A date as Australians write it: "Saturday 6 September 2025".
pub fn au_date(d: NaiveDate) -> String {
    d.format("%A %-d %B %Y").to_string()
}

/// Short form for lists: "Sat 6 Sep".
pub fn au_short(d: NaiveDate) -> String {
    d.format("%a %-d %b").to_string()
}

/// An RFC 3339 time as a date and AEST time: "6 Sep 2025, 18:30 AEST".
pub fn au_time(rfc3339: &str) -> String {
    chrono::DateTime::parse_from_rfc3339(rfc3339)
        .map(|t| {
            (t.with_timezone(&chrono::Utc) + chrono::Duration::hours(10))
                .format("%-d %b %Y, %H:%M AEST")
                .to_string()
        })
        .unwrap_or_else(|_| rfc3339.to_string())
}
