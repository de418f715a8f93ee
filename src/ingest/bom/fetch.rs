//! Polite HTTP: the delay before each request, retries with backoff and
//! jitter for what is worth retrying, redirects only to BOM's host, and the
//! one-line description of an HTML error page.

use super::*;

/// Follow a redirect only to the configured BOM host (same scheme, host and
/// port), at most five in a row: the scraper must never be sent to fetch
/// from, or leak its requests to, another server.
pub(super) fn same_host_redirects(base_url: &str) -> reqwest::redirect::Policy {
    let origin = |u: &reqwest::Url| {
        (
            u.scheme().to_string(),
            u.host_str().map(str::to_ascii_lowercase),
            u.port_or_known_default(),
        )
    };
    let allowed = reqwest::Url::parse(base_url).ok().map(|u| origin(&u));
    reqwest::redirect::Policy::custom(move |attempt| {
        if attempt.previous().len() >= 5 {
            attempt.error("too many redirects")
        } else if allowed.as_ref() == Some(&origin(attempt.url())) {
            attempt.follow()
        } else {
            let to = attempt.url().to_string();
            attempt.error(format!("redirect to {to} leaves the configured BOM host"))
        }
    })
}

/// The result of one HTTP attempt that did not return a body.
pub(super) enum Attempt {
    /// Worth another try (timeout, connection error, 5xx).
    Retry(String),
    /// Final for this station-month.
    Final(Outcome),
}

/// GET `url` with the delay before each request and retries with backoff.
pub(super) async fn fetch(ctx: &Ctx, url: &str) -> Result<Vec<u8>, Outcome> {
    let attempts = ctx.cfg.retries + 1;
    let mut last_error = String::new();
    for attempt in 0..attempts {
        let wait = if attempt > 0 {
            backoff(ctx.cfg.backoff_ms, attempt)
        } else {
            Duration::ZERO
        } + ctx.delay;
        // A stop (cancel, shutdown, the circuit) ends the wait at once. No
        // wait (a loopback stand-in's first attempt) is no timer either: a
        // zero sleep still waits for the timer's next millisecond.
        if wait.is_zero() {
            if ctx.stop.is_cancelled() {
                return Err(Outcome::Cancelled);
            }
        } else {
            tokio::select! {
                biased;
                () = ctx.stop.cancelled() => return Err(Outcome::Cancelled),
                () = tokio::time::sleep(wait) => {}
            }
        }
        match get(ctx, url).await {
            Ok(body) => return Ok(body),
            Err(Attempt::Final(outcome)) => {
                if let Outcome::Forbidden { page, .. } = &outcome {
                    ctx.systemic_failure(format!(
                        "BOM refused the requests (403){}: it blocks clients it takes for scrapers; \
                         set bom.user_agent to identify you and raise bom.delay_ms",
                        page.as_deref()
                            .map(|p| format!(" with an HTML page: {p}"))
                            .unwrap_or_default()
                    ));
                }
                return Err(outcome);
            }
            Err(Attempt::Retry(e)) => {
                tracing::debug!(url, attempt = attempt + 1, error = %e, "retrying");
                ctx.systemic_failure(format!(
                    "{e}; check the network, bom.base_url ({}) and bom.timeout_secs",
                    ctx.cfg.base_url
                ));
                last_error = e;
            }
        }
    }
    Err(Outcome::Failed {
        url: url.to_string(),
        attempts,
        error: last_error,
    })
}

pub(super) async fn get(ctx: &Ctx, url: &str) -> Result<Vec<u8>, Attempt> {
    let classify = |e: reqwest::Error| {
        if e.is_timeout() {
            Attempt::Retry(format!("timed out after {} s", ctx.cfg.timeout_secs))
        } else if e.is_builder() || e.is_redirect() {
            Attempt::Final(Outcome::Failed {
                url: url.to_string(),
                attempts: 1,
                error: error_chain(&e),
            })
        } else {
            Attempt::Retry(error_chain(&e.without_url()))
        }
    };
    let mut resp = ctx.client.get(url).send().await.map_err(classify)?;
    let status = resp.status();
    match status.as_u16() {
        200..=299 => {}
        403 => {
            let page = error_page(resp).await;
            return Err(Attempt::Final(Outcome::Forbidden {
                url: url.into(),
                page,
            }));
        }
        404 => return Err(Attempt::Final(Outcome::NotFound { url: url.into() })),
        500..=599 => {
            let page = error_page(resp).await;
            return Err(Attempt::Retry(format!(
                "HTTP {status}{}",
                page_suffix(&page)
            )));
        }
        other => {
            let page = error_page(resp).await;
            return Err(Attempt::Final(Outcome::HttpError {
                url: url.into(),
                status: other,
                page,
            }));
        }
    }
    let mut body = Vec::with_capacity(8 * 1024);
    while let Some(chunk) = resp.chunk().await.map_err(classify)? {
        if body.len() + chunk.len() > MAX_BODY_BYTES {
            return Err(Attempt::Final(Outcome::Rejected {
                url: url.into(),
                reason: format!("body larger than {MAX_BODY_BYTES} bytes"),
            }));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// The one-line description of an error answer's body when it is an HTML
/// page (BOM's firewall, maintenance or error pages); `None` for other
/// bodies (plain text, empty) or when the body cannot be read.
pub(super) async fn error_page(mut resp: reqwest::Response) -> Option<String> {
    let content_type = resp
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let mut body = Vec::new();
    while body.len() < MAX_ERROR_BODY_BYTES {
        match resp.chunk().await {
            Ok(Some(chunk)) => body.extend_from_slice(&chunk),
            Ok(None) => break,
            Err(_) if body.is_empty() => return None,
            Err(_) => break,
        }
    }
    body.truncate(MAX_ERROR_BODY_BYTES);
    if !html::looks_like_html(&body, content_type.as_deref()) {
        return None;
    }
    let page = HtmlPage::parse(&body);
    tracing::warn!(url = %resp.url(), status = resp.status().as_u16(), %page, "BOM answered with an HTML page");
    Some(page.to_string())
}

/// `base · 2^(attempt-1)`, at most [`MAX_BACKOFF`], plus up to half again of jitter.
pub(super) fn backoff(base_ms: u64, attempt: u32) -> Duration {
    let exp = base_ms.saturating_mul(1u64 << (attempt - 1).min(20));
    let exp = Duration::from_millis(exp).min(MAX_BACKOFF);
    let jitter_ms = rand::rng().random_range(0..=exp.as_millis() as u64 / 2);
    exp + Duration::from_millis(jitter_ms)
}

/// An error with its causes, `a: b: c` (reqwest's own message omits them).
pub(super) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        s.push_str(": ");
        s.push_str(&cause.to_string());
        source = cause.source();
    }
    s
}
