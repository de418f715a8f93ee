//! Writes that nobody would keep: with the database file deleted under the
//! running server, an admin "run now" used to be accepted and recorded as
//! succeeded, into the deleted file (issue 28). Now the job is refused with
//! the cause, and the dashboard and /readyz say it.

use super::{admin_app, get_with, login, post_form};
use crate::support::app::json;

#[tokio::test(flavor = "multi_thread")]
async fn a_deleted_database_refuses_jobs_with_the_cause() {
    let app = admin_app(|_| {}).await;
    let (session, csrf) = login(&app).await;
    let runs_before = app.store.runs(None, 1000).unwrap().len();
    let page = get_with(&app, &session, "/admin")
        .await
        .text()
        .await
        .unwrap();
    assert!(
        !page.contains("write-problem"),
        "no warning while all is well"
    );

    std::fs::remove_file(&app.db).unwrap();
    for kind in ["scrape", "train", "refresh"] {
        let resp = post_form(
            &app,
            &session,
            &format!("/admin/jobs/{kind}"),
            &[("csrf", &csrf)],
        )
        .await;
        let status = resp.status().as_u16();
        let body = resp.text().await.unwrap();
        assert_eq!(status, 503, "{kind}: {body}");
        assert!(body.contains("database file deleted"), "{kind}: {body}");
    }
    // Nothing was recorded (the open handle still reads the deleted file).
    assert_eq!(app.store.runs(None, 1000).unwrap().len(), runs_before);
    assert!(!app.db.exists(), "no new file was created in its place");

    let page = get_with(&app, &session, "/admin")
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains(r#"id="write-problem""#), "{page}");
    assert!(page.contains("database file deleted"), "{page}");

    let (status, body) = json(app.get("/readyz").send().await.unwrap()).await;
    assert_eq!(status, 503);
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .starts_with("database file deleted"),
        "{body}"
    );
    app.stop().await;
}

/// While all is well /readyz says writes are kept, no fallback is in
/// force and the job lease is free; a held lease is shown with its holder
/// in /readyz, the dashboard and /metrics.
#[tokio::test(flavor = "multi_thread")]
async fn readyz_says_writes_are_kept_and_who_holds_the_lease() {
    let app = admin_app(|_| {}).await;
    let (status, body) = json(app.get("/readyz").send().await.unwrap()).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["writable"], true, "{body}");
    assert!(body["write_problem"].is_null(), "{body}");
    assert!(body["fallback"].is_null(), "{body}");
    assert!(body["job_lease"].is_null(), "{body}");
    let (session, _) = login(&app).await;
    let page = get_with(&app, &session, "/admin")
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("Job lease: free"), "{page}");
    assert!(!page.contains("model-fallback"), "{page}");

    // A run of "another process" (ours, as `raincast train` would) holds it.
    let run = app
        .store
        .start_run(
            raincast::store::JobKind::Train,
            raincast::store::Trigger::Cli,
            std::time::Duration::from_secs(60),
        )
        .unwrap();
    let (_, body) = json(app.get("/readyz").send().await.unwrap()).await;
    assert_eq!(body["job_lease"]["run_id"], run, "{body}");
    assert_eq!(body["job_lease"]["kind"], "train", "{body}");
    assert_eq!(body["job_lease"]["holder"], "this process", "{body}");
    assert!(
        body["job_lease"]["expires_in_secs"].as_i64().unwrap() > 50,
        "{body}"
    );
    let page = get_with(&app, &session, "/admin")
        .await
        .text()
        .await
        .unwrap();
    assert!(
        page.contains(&format!("Job lease: held by train run {run} (pid")),
        "{page}"
    );
    let metrics = app
        .get("/metrics")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.lines().any(|l| l == "raincast_job_lease_held 1"),
        "{metrics}"
    );
    assert!(
        metrics
            .lines()
            .any(|l| l == "raincast_job_lease_holder_dead 0"),
        "{metrics}"
    );
    app.stop().await;
}
