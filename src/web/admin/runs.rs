//! The dashboard and the job runs: start a job now, watch a run (its page
//! and the JSON the page polls), cancel one.

use askama::Template;
use axum::Form;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};

use super::auth::{Admin, CsrfForm};
use super::views::{
    RunRow, ScheduleRow, elapsed, json_facts, run_clock, run_row, summary_facts, trees,
};
use super::{AdminError, Page, load};
use crate::jobs::{JobError, JobKind, Trigger};
use crate::store::RunStatus;
use crate::web::AppState;
use crate::web::error::{ApiError, blocking};
use crate::web::html::{au_time, error_page};

#[derive(Template)]
#[template(path = "admin/dashboard.html")]
struct Dashboard {
    csrf: String,
    message: Option<String>,
    /// BOM is failing: since when and why (the message names the setting).
    source_problem: Option<(String, String)>,
    /// Writes would not be kept (the file deleted or replaced, read-only,
    /// the disk full): why. Jobs refuse to start meanwhile.
    write_problem: Option<String>,
    /// An older model serves because the champion does not load: why.
    fallback: Option<String>,
    /// Who holds the job lease, in words (none: no run holds it).
    lease: Option<String>,
    next_scrape: Option<String>,
    /// One row per job: next scheduled run, and the run going now.
    schedules: Vec<ScheduleRow>,
    runs: Vec<RunRow>,
    champion: Option<i64>,
    models: usize,
    observations: u64,
    /// Which clock each time on the console follows, and its zone.
    clocks: String,
}

/// The console's times, named: schedules follow raincast's clock, shown in
/// AEST; runs, models and deployments are stamped with the machine's real
/// time, in UTC. When raincast's clock is simulated (`RAINCAST_CLOCK_START`,
/// a demo or a replay) the two differ, and this says so.
fn clocks_note(
    raincast: chrono::DateTime<chrono::Utc>,
    real: chrono::DateTime<chrono::Utc>,
) -> String {
    let simulated = (raincast - real).num_seconds().abs() > 60;
    if simulated {
        format!(
            "Times: raincast's clock is simulated and reads {}; schedules, scrapes, data days and forecasts follow it (schedules in AEST, UTC+10; scrapes in UTC). Runs, models and deployments are stamped with this machine's real time, in UTC (now {}).",
            au_time(&raincast.to_rfc3339()),
            real.format("%-d %b %Y, %H:%M UTC")
        )
    } else {
        "Times: schedules in AEST (UTC+10, BOM's day); runs, models and deployments in UTC."
            .to_string()
    }
}

pub(super) async fn dashboard(State(s): State<AppState>, admin: Admin) -> Page {
    let store = s.store.clone();
    let (runs, champion, models, observations, write_problem, lease) = load(move || {
        Ok((
            store.runs(None, 20)?,
            store.champion_version()?,
            store.models()?.len(),
            store.count_observations()?,
            store.check_writable().err().map(|e| e.to_string()),
            store.job_lease()?.map(|l| l.describe()),
        ))
    })
    .await?;
    let now = run_clock();
    let board = s.serving.board();
    let source_problem = board.source.failing_since.map(|since| {
        (
            au_time(&since.to_rfc3339()),
            board.source.cause.clone().unwrap_or_default(),
        )
    });
    let when = |k| s.jobs.next_run(k).map(|t| au_time(&t.to_rfc3339()));
    let going = s.jobs.running();
    let schedules = JobKind::ALL
        .into_iter()
        .map(|k| ScheduleRow {
            kind: k.as_str(),
            next: when(k),
            running: going.iter().find(|(g, id)| *g == k && *id > 0).map(|x| x.1),
        })
        .collect();
    Ok(s.page(&Dashboard {
        message: s.auth.take_notice(&admin.session),
        csrf: admin.csrf,
        source_problem,
        write_problem,
        fallback: s.serving.fallback().map(|f| f.reason),
        lease,
        next_scrape: when(JobKind::Scrape),
        schedules,
        runs: runs.iter().map(|r| run_row(r, now)).collect(),
        champion,
        models,
        observations,
        clocks: clocks_note(s.clock.now(), chrono::Utc::now()),
    }))
}

pub(super) async fn run_job(
    State(s): State<AppState>,
    admin: Admin,
    Path(kind): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Page {
    admin.check_csrf(&form.csrf)?;
    let Ok(kind) = kind.parse::<JobKind>() else {
        return Err(AdminError::refused(
            StatusCode::NOT_FOUND,
            "Unknown job",
            "Jobs are scrape, train and refresh.",
        ));
    };
    match s.jobs.start(kind, Trigger::Admin).await {
        Ok(id) => Ok(Redirect::to(&format!("/admin/runs/{id}")).into_response()),
        Err(e @ JobError::AlreadyRunning { .. }) => Err(AdminError::refused(
            StatusCode::CONFLICT,
            "Refused",
            format!("Not started: {e}."),
        )),
        Err(e) => Err(AdminError::refused(
            StatusCode::SERVICE_UNAVAILABLE,
            "Cannot start",
            e.to_string(),
        )),
    }
}

#[derive(Template)]
#[template(path = "admin/runs.html")]
struct RunsPage {
    csrf: String,
    runs: Vec<RunRow>,
}

pub(super) async fn runs_page(State(s): State<AppState>, admin: Admin) -> Page {
    let store = s.store.clone();
    let runs = load(move || Ok(store.runs(None, 200)?)).await?;
    let now = run_clock();
    Ok(s.page(&RunsPage {
        csrf: admin.csrf,
        runs: runs.iter().map(|r| run_row(r, now)).collect(),
    }))
}

#[derive(Template)]
#[template(path = "admin/run.html")]
struct RunPage {
    csrf: String,
    run: RunRow,
    running: bool,
    trees: String,
    log: String,
    /// The summary as JSON (behind a toggle) and as readable facts.
    summary: String,
    facts: Vec<(String, String)>,
    /// The model version this run registered.
    model: Option<i64>,
    message: Option<String>,
}

pub(super) async fn run_page(
    State(s): State<AppState>,
    admin: Admin,
    Path(id): Path<String>,
) -> Response {
    let Ok(id) = id.parse::<i64>() else {
        return error_page(StatusCode::NOT_FOUND, "No such run", "Run ids are numbers.");
    };
    let store = s.store.clone();
    let found = blocking(move || {
        let run = store.run(id)?;
        let model = store
            .models()?
            .iter()
            .find(|m| m.trained_by_run == Some(id))
            .map(|m| m.version);
        Ok((run, model))
    })
    .await;
    match found {
        Ok((r, model)) => s.page(&RunPage {
            message: s.auth.take_notice(&admin.session),
            csrf: admin.csrf,
            running: r.status == RunStatus::Running,
            trees: trees(&r),
            log: r.log.clone(),
            summary: r
                .summary
                .as_ref()
                .map(|v| serde_json::to_string_pretty(v).unwrap_or_default())
                .unwrap_or_default(),
            facts: r
                .summary
                .as_ref()
                .map(|v| match crate::jobs::JobSummary::read(r.kind, v) {
                    Ok(typed) => summary_facts(&typed),
                    Err(_) => json_facts(v),
                })
                .unwrap_or_default(),
            model,
            run: run_row(&r, run_clock()),
        }),
        Err(ApiError::NotFound { .. }) => error_page(
            StatusCode::NOT_FOUND,
            "No such run",
            &format!("There is no run {id}."),
        ),
        Err(e) => e.into_response(),
    }
}

/// Ask a running job to stop at its next safe point; it is recorded as
/// cancelled. 404 for an unknown run, 409 for one that is not running here.
pub(super) async fn cancel_run(
    State(s): State<AppState>,
    admin: Admin,
    Path(id): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Page {
    admin.check_csrf(&form.csrf)?;
    let Ok(id) = id.parse::<i64>() else {
        return Err(AdminError::refused(
            StatusCode::NOT_FOUND,
            "No such run",
            "Run ids are numbers.",
        ));
    };
    let store = s.store.clone();
    let run = blocking(move || Ok(store.run(id)?))
        .await
        .map_err(|e| match e {
            ApiError::NotFound { .. } => {
                AdminError::not_found("No such run", format!("There is no run {id}."))
            }
            e => e.into(),
        })?;
    if run.status != RunStatus::Running {
        return Err(AdminError::refused(
            StatusCode::CONFLICT,
            "Nothing to cancel",
            format!("Run {id} has already {}.", run.status.as_str()),
        ));
    }
    match s.jobs.cancel(id) {
        Ok(()) => {
            s.auth.set_notice(
                &admin.session,
                format!(
                    "Cancel requested: run {id} stops at its next safe point and is recorded as cancelled."
                ),
            );
            Ok(Redirect::to(&format!("/admin/runs/{id}")).into_response())
        }
        Err(e) => Err(AdminError::refused(
            StatusCode::CONFLICT,
            "Cannot cancel",
            format!("{e} (it may be going in another process)."),
        )),
    }
}

pub(super) async fn run_json(
    State(s): State<AppState>,
    _admin: Admin,
    Path(id): Path<String>,
) -> Response {
    let Ok(id) = id.parse::<i64>() else {
        return ApiError::invalid("id", "run ids are numbers").into_response();
    };
    let store = s.store.clone();
    match blocking(move || Ok(store.run(id)?)).await {
        Ok(r) => {
            let lines: Vec<&str> = r.log.lines().collect();
            let tail = lines[lines.len().saturating_sub(30)..].join("\n");
            Json(serde_json::json!({
                "id": r.id, "kind": r.kind, "status": r.status, "trigger": r.trigger,
                "elapsed_seconds": elapsed(&r, run_clock()), "progress": r.progress,
                "log_tail": tail, "error": r.error,
            }))
            .into_response()
        }
        Err(e) => e.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_console_names_its_clocks() {
        let real = "2026-12-06T04:00:00Z".parse().unwrap();
        let sim = "2017-06-26T09:00:00Z".parse().unwrap();
        let note = clocks_note(sim, real);
        assert!(
            note.contains("simulated and reads 26 Jun 2017, 19:00 AEST"),
            "{note}"
        );
        assert!(
            note.contains("real time, in UTC (now 6 Dec 2026, 04:00 UTC)"),
            "{note}"
        );
        assert!(!clocks_note(real, real).contains("simulated"));
    }
}
