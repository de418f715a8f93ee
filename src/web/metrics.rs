//! `/metrics` in Prometheus text format. Counters and histograms are updated
//! where things happen; gauges that describe state (freshness, the champion's
//! quality, live accuracy, the database and the process) are read fresh at
//! each scrape.

use std::sync::OnceLock;

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use metrics::gauge;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use super::AppState;
use super::error::{ApiError, blocking};

/// Latency buckets, in seconds.
const HTTP_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];
const JOB_BUCKETS: &[f64] = &[
    1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0,
];

#[derive(Clone)]
pub struct Metrics {
    handle: PrometheusHandle,
    /// The standard `process_*` metrics (CPU, memory, descriptors, threads,
    /// start time), read from the OS at each scrape by `metrics-process`.
    process: metrics_process::Collector,
    /// The last rendering and when it was made; the lock is the single
    /// flight (see [`RENDER_EVERY`]).
    rendered: std::sync::Arc<tokio::sync::Mutex<Option<Rendered>>>,
}

/// One rendering of `/metrics` and when it was made.
type Rendered = (
    std::time::Instant,
    std::sync::Arc<super::prepared::Prepared>,
);

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

impl Metrics {
    /// Install the global recorder once per process.
    pub fn install() -> Self {
        let handle = HANDLE
            .get_or_init(|| {
                let builder = PrometheusBuilder::new()
                    .set_buckets_for_metric(
                        Matcher::Full("raincast_http_request_duration_seconds".into()),
                        HTTP_BUCKETS,
                    )
                    .and_then(|b| {
                        b.set_buckets_for_metric(
                            Matcher::Full("raincast_job_duration_seconds".into()),
                            JOB_BUCKETS,
                        )
                    })
                    .unwrap_or_else(|_| PrometheusBuilder::new());
                match builder.install_recorder() {
                    Ok(h) => h,
                    // Another recorder is installed (a host test harness): keep a private one.
                    Err(_) => PrometheusBuilder::new().build_recorder().handle(),
                }
            })
            .clone();
        describe();
        let process = metrics_process::Collector::default();
        process.describe();
        Self {
            handle,
            process,
            rendered: Default::default(),
        }
    }
}

/// How often the recorder's upkeep runs.
pub const UPKEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

impl Metrics {
    /// Fold recorded histogram samples into their buckets. The recorder keeps
    /// every observation until a render or an upkeep, so without this timer a
    /// server nobody scrapes grows with its traffic (about 1.7 MB/s at full
    /// load; 15 MB a day at 10 req/s).
    pub fn run_upkeep(&self) {
        self.handle.run_upkeep();
    }

    /// Run [`Metrics::run_upkeep`] every [`UPKEEP_EVERY`] until aborted.
    pub fn spawn_upkeep(&self) -> tokio::task::JoinHandle<()> {
        let this = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(UPKEEP_EVERY);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                this.run_upkeep();
            }
        })
    }
}

/// For metrics' help: what the `location` label's identifiers are called,
/// e.g. "SydneyAirport = Sydney Airport" (those that differ).
pub fn location_names() -> String {
    let pairs: Vec<String> = crate::stations::STATIONS
        .iter()
        .filter(|s| s.location != s.display_name)
        .map(|s| format!("{} = {}", s.location, s.display_name))
        .collect();
    format!(
        "Label location: the weatherAUS identifier; names: {}.",
        pairs.join(", ")
    )
}

fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram};
    describe_counter!(
        "raincast_http_requests_total",
        "HTTP requests by method, matched route and status."
    );
    describe_histogram!(
        "raincast_http_request_duration_seconds",
        "HTTP request latency."
    );
    describe_counter!(
        "raincast_job_runs_total",
        "Job runs by kind and final status."
    );
    describe_histogram!("raincast_job_duration_seconds", "Job run duration.");
    describe_counter!(
        "raincast_alert_deliveries_total",
        "Webhook alert deliveries by outcome: queued, dropped (queue full), and per attempt delivered, retry or failed (gave up)."
    );
    describe_histogram!(
        "raincast_alert_delivery_duration_seconds",
        "Time one webhook alert attempt took, answer or not."
    );
    describe_gauge!(
        "raincast_alert_deliveries_pending",
        "Webhook alert deliveries waiting to be sent."
    );
    describe_counter!(
        "raincast_predict_refused_total",
        "Prediction batches refused with 503 because the cost in flight was at its limit."
    );
    describe_counter!(
        "raincast_predict_abandoned_total",
        "Prediction batches stopped because their client had gone."
    );
    describe_gauge!(
        "raincast_job_last_success_timestamp_seconds",
        "Unix time of the last successful run, by kind."
    );
    describe_gauge!(
        "raincast_job_running",
        "1 while a run of that kind is going."
    );
    describe_counter!(
        "raincast_job_retries_total",
        "Retries of failed scheduled runs."
    );
    describe_counter!(
        "raincast_scrape_rows_total",
        "Observation rows written by scrapes, by change (inserted, updated)."
    );
    describe_counter!(
        "raincast_scrape_files_rejected_total",
        "DWO files rejected by the parser."
    );
    let names = location_names();
    describe_gauge!(
        "raincast_observation_age_seconds",
        format!("Seconds since the end of the newest observation's day, per station. {names}")
    );
    describe_gauge!(
        "raincast_observations",
        format!("Stored observations, per station. {names}")
    );
    describe_gauge!(
        "raincast_champion_version",
        "Version of the serving model (0 = none)."
    );
    describe_gauge!(
        "raincast_champion_f1",
        "Test-window F1 (rain = yes) of the serving model."
    );
    describe_gauge!(
        "raincast_champion_roc_auc",
        "Test-window ROC AUC of the serving model."
    );
    describe_gauge!(
        "raincast_champion_brier",
        "Test-window Brier score of the serving model."
    );
    describe_gauge!(
        "raincast_level_shift_logodds",
        "The level correction (log-odds) the serving model's forecasts issued today carry, by issue and amount (mm); 0 = the model's own chance."
    );
    describe_counter!(
        "raincast_predictions_total",
        "Predictions served, by decision and endpoint."
    );
    describe_gauge!(
        "raincast_live_forecasts_verified",
        "Logged forecasts verified against observed rain, last 30 days."
    );
    describe_gauge!(
        "raincast_live_forecast_hits",
        "Verified forecasts whose yes/no call was right, last 30 days."
    );
    describe_gauge!(
        "raincast_live_forecast_misses",
        "Verified forecasts whose yes/no call was wrong, last 30 days."
    );
    describe_gauge!(
        "raincast_live_brier",
        "Brier score of verified forecasts, last 30 days."
    );
    describe_gauge!(
        "raincast_live_brier_by_issue",
        "Brier score of verified forecasts of each issue (day_before, morning, afternoon), last 30 days."
    );
    describe_gauge!(
        "raincast_live_forecasts_verified_by_issue",
        "Verified forecasts of each issue, last 30 days."
    );
    describe_gauge!(
        "raincast_live_rps",
        "Ranked probability score of verified forecasts' amounts (0.2, 1, 5, 10, 25 mm) per issue, last 30 days."
    );
    describe_gauge!(
        "raincast_live_rpss",
        "Ranked probability skill score against the serving model's station-month climatology, per issue, last 30 days."
    );
    describe_gauge!(
        "raincast_live_amount_brier",
        "Brier score of the chance of each amount (mm) per issue, last 30 days."
    );
    describe_gauge!(
        "raincast_live_amount_mean_forecast",
        "Mean chance of each amount (mm) per issue, last 30 days."
    );
    describe_gauge!(
        "raincast_live_amount_observed_frequency",
        "How often each amount (mm) fell, per issue, last 30 days."
    );
    describe_gauge!(
        "raincast_live_range_reached_ratio",
        "Share of days the possible-rainfall range's end (low 50 %, high 25 %) was reached, where above 0 mm, per issue, last 30 days."
    );
    describe_gauge!("raincast_database_size_bytes", "SQLite file plus WAL size.");
    describe_counter!(
        "raincast_metrics_renders_total",
        "Renderings of /metrics: one serves every request for 5 s."
    );
    describe_gauge!(
        "raincast_model_fallback",
        "1 while an older model serves because the deployed champion does not load."
    );
    describe_gauge!(
        "raincast_job_lease_held",
        "1 while a run (of any process on the database) holds an unexpired job lease."
    );
    describe_gauge!(
        "raincast_job_lease_holder_dead",
        "1 while the unexpired job lease's holder is a process gone from this host (the next job takes it over)."
    );
    describe_gauge!(
        "raincast_field_missing_ratio",
        format!("Share of a station's last 30 days of rows missing the field. {names}")
    );
    describe_gauge!(
        "raincast_channel_agreement_ratio",
        "Share of the fields both channels (website, FTP) reported for a day, over the last 30 days, on which they agree; by field, and field=all."
    );
    describe_gauge!(
        "raincast_channel_fields_compared",
        "Fields compared between the two channels (website, FTP) over the last 30 days; by field, and field=all."
    );
    describe_counter!(
        "raincast_ftp_readings_total",
        "Readings of our stations stored from BOM's FTP observation products."
    );
    describe_counter!(
        "raincast_ftp_polls_total",
        "Polls of BOM's FTP products, by status (ok, failed)."
    );
    describe_gauge!(
        "raincast_field_silent",
        "1 when a station has stopped reporting a field it used to report (see the admin data page)."
    );
}

/// How long the per-station field health is reused between scrapes: it
/// aggregates the whole observations table.
const HEALTH_TTL: std::time::Duration = std::time::Duration::from_secs(300);

type HealthCache = std::sync::Mutex<
    Option<(
        std::time::Instant,
        std::path::PathBuf,
        Vec<crate::train::health::StationHealth>,
    )>,
>;
static HEALTH: HealthCache = std::sync::Mutex::new(None);

/// Field health, recomputed at most every [`HEALTH_TTL`] per database.
fn field_health(
    store: &crate::store::Store,
) -> Result<Option<Vec<crate::train::health::StationHealth>>, crate::store::StoreError> {
    if let Ok(cache) = HEALTH.lock()
        && let Some((at, path, _)) = cache.as_ref()
        && at.elapsed() < HEALTH_TTL
        && path == store.path()
    {
        // The gauges already hold these values: nothing to set again.
        return Ok(None);
    }
    let h = crate::train::health::data_health(store)?;
    if let Ok(mut cache) = HEALTH.lock() {
        *cache = Some((
            std::time::Instant::now(),
            store.path().to_path_buf(),
            h.clone(),
        ));
    }
    Ok(Some(h))
}

/// How long one rendering of `/metrics` is served. Well under any
/// Prometheus scrape interval (`deploy/prometheus.yml`: 30 s; the default
/// 15 s), so each scrape sees fresh values, while a burst of requests (two
/// Prometheus servers, a dashboard, 32 at once on a fresh start) shares one
/// rendering: about 150 KB of text and, every few minutes, a pass over the
/// whole observations table for the field health.
pub const RENDER_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

pub fn router() -> Router<AppState> {
    Router::new().route("/metrics", get(render))
}

async fn render(
    State(s): State<AppState>,
    headers: axum::http::HeaderMap,
) -> Result<axum::response::Response, ApiError> {
    // Single flight: one request renders (and gzips, for Prometheus and
    // browsers, which accept it) while the others wait for the lock, then
    // take its text.
    let mut rendered = s.metrics.rendered.lock().await;
    let text = match rendered.as_ref() {
        Some((at, text)) if at.elapsed() < RENDER_EVERY => text.clone(),
        _ => {
            let text = render_now(&s).await?;
            let text = blocking(move || {
                Ok(std::sync::Arc::new(super::prepared::Prepared::new(
                    text,
                    "text/plain; version=0.0.4; charset=utf-8",
                    "no-cache",
                )))
            })
            .await?;
            *rendered = Some((std::time::Instant::now(), text.clone()));
            text
        }
    };
    drop(rendered);
    Ok(text.respond(&headers))
}

/// The live record's amounts over `since..=today`, per issue, against the
/// serving model's climatology (none without a model that has amounts).
fn live_amounts(
    store: &crate::store::Store,
    champion: Option<&crate::registry::LoadedModel>,
    since: chrono::NaiveDate,
    today: chrono::NaiveDate,
) -> Result<Vec<crate::amounts::IssueAmountScores>, crate::store::StoreError> {
    use chrono::Datelike;
    let Some(clim) = champion.and_then(|m| m.model.amounts.as_ref()) else {
        return Ok(Vec::new());
    };
    let items: Vec<crate::amounts::AmountItem> = store
        .live_forecasts(since, today)?
        .into_iter()
        .filter_map(|p| {
            Some(crate::amounts::AmountItem {
                issue: p.issue.as_deref().and_then(crate::issue::Issue::parse),
                curve: p.amounts.as_ref()?.curve()?,
                climatology: clim.climatology(&p.location, p.for_date.month()),
                amount: p.amount_mm?,
            })
        })
        .collect();
    Ok(crate::amounts::AmountScores::by_issue(&items))
}

/// Set the state gauges and render every metric.
async fn render_now(s: &AppState) -> Result<axum::body::Bytes, ApiError> {
    let now = s.clock.now();
    // Station counts and the live record come from the serving board; the
    // field health is cached for a few minutes (see `field_health`).
    let board = s.serving.board();
    let record = &board.record_30d;
    let store = s.store.clone();
    let since = s.clock.today() - chrono::Days::new(30);
    let (today, champion) = (s.clock.today(), s.serving.get());
    let (health, lease, agreement, amounts) = blocking(move || {
        let lease = store.job_lease().ok().flatten();
        let agreement = store.channel_agreement(since)?;
        let amounts = live_amounts(&store, champion.as_deref(), since, today)?;
        Ok((field_health(&store)?, lease, agreement, amounts))
    })
    .await?;
    for a in &amounts {
        let issue = [("issue", a.issue.clone())];
        gauge!("raincast_live_rps", &issue).set(a.scores.rps);
        if let Some(v) = a.scores.rpss {
            gauge!("raincast_live_rpss", &issue).set(v);
        }
        for t in &a.scores.thresholds {
            let labels = [("issue", a.issue.clone()), ("mm", t.mm.to_string())];
            gauge!("raincast_live_amount_brier", &labels).set(t.brier);
            gauge!("raincast_live_amount_mean_forecast", &labels).set(t.mean_forecast);
            gauge!("raincast_live_amount_observed_frequency", &labels).set(t.observed_frequency);
        }
        for r in &a.scores.range {
            if let Some(v) = r.reached_frequency {
                let labels = [("issue", a.issue.clone()), ("end", r.end.clone())];
                gauge!("raincast_live_range_reached_ratio", &labels).set(v);
            }
        }
    }
    let (mut compared, mut agreed) = (0u64, 0u64);
    for a in &agreement {
        let label = [("field", a.field.clone())];
        gauge!("raincast_channel_fields_compared", &label).set(a.compared as f64);
        if let Some(r) = a.ratio() {
            gauge!("raincast_channel_agreement_ratio", &label).set(r);
        }
        compared += a.compared;
        agreed += a.agreed;
    }
    gauge!("raincast_channel_fields_compared", "field" => "all").set(compared as f64);
    if compared > 0 {
        gauge!("raincast_channel_agreement_ratio", "field" => "all")
            .set(agreed as f64 / compared as f64);
    }
    gauge!("raincast_model_fallback").set(if s.serving.fallback().is_some() {
        1.0
    } else {
        0.0
    });
    let live = lease.as_ref().filter(|l| l.expires_in_secs() >= 0);
    gauge!("raincast_job_lease_held").set(if live.is_some() { 1.0 } else { 0.0 });
    gauge!("raincast_job_lease_holder_dead").set(
        if live.is_some_and(|l| l.holder() == "a dead process") {
            1.0
        } else {
            0.0
        },
    );
    for st in health.iter().flatten() {
        for f in &st.fields {
            let labels = [
                ("location", st.location.clone()),
                ("field", f.field.to_string()),
            ];
            if let Some(r) = f.recent_missing {
                gauge!("raincast_field_missing_ratio", &labels).set(r);
            }
            let silent = f.status == crate::train::health::FieldStatus::Silent;
            gauge!("raincast_field_silent", &labels).set(if silent { 1.0 } else { 0.0 });
        }
    }
    for st in crate::stations::STATIONS.iter() {
        let stat = board.station(st.location);
        gauge!("raincast_observations", "location" => st.location)
            .set(stat.map_or(0.0, |x| x.rows as f64));
        if let Some(latest) = stat.and_then(|x| x.latest) {
            let end_of_day = (latest + chrono::Days::new(1))
                .and_time(chrono::NaiveTime::MIN)
                .and_utc();
            gauge!("raincast_observation_age_seconds", "location" => st.location)
                .set((now - end_of_day).num_seconds().max(0) as f64);
        }
    }
    match s.serving.get() {
        Some(m) => {
            gauge!("raincast_champion_version").set(m.version as f64);
            gauge!("raincast_champion_f1").set(m.summary.f1);
            gauge!("raincast_champion_roc_auc").set(m.summary.roc_auc);
            gauge!("raincast_champion_brier").set(m.summary.brier);
            // The level correction each issue made today applies, per
            // amount (decision 0038).
            let today = s.clock.today();
            for issue in crate::issue::ISSUES {
                let rain_day = today + chrono::Days::new(issue.lead_days());
                let shift = m.level.with(|b| b.shift(issue, rain_day));
                for (t, v) in crate::amounts::THRESHOLDS.iter().zip(shift) {
                    gauge!("raincast_level_shift_logodds", "issue" => issue.name(), "mm" => t.mm.to_string())
                        .set(v);
                }
            }
        }
        None => gauge!("raincast_champion_version").set(0.0),
    }
    gauge!("raincast_live_forecasts_verified").set(record.verified as f64);
    gauge!("raincast_live_forecast_hits").set(record.hits as f64);
    gauge!("raincast_live_forecast_misses").set(record.misses as f64);
    if let Some(b) = record.brier {
        gauge!("raincast_live_brier").set(b);
    }
    for (issue, r) in &board.record_30d_by_issue {
        let label = [("issue", issue.clone())];
        gauge!("raincast_live_forecasts_verified_by_issue", &label).set(r.verified as f64);
        if let Some(b) = r.brier {
            gauge!("raincast_live_brier_by_issue", &label).set(b);
        }
    }
    gauge!("raincast_database_size_bytes").set(s.store.file_size() as f64);
    s.metrics.process.collect();
    metrics::counter!("raincast_metrics_renders_total").increment(1);
    Ok(axum::body::Bytes::from(s.metrics.handle.render()))
}
