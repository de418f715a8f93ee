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

/// While all is well /readyz says writes are kept.
#[tokio::test(flavor = "multi_thread")]
async fn readyz_says_writes_are_kept() {
    let app = admin_app(|_| {}).await;
    let (status, body) = json(app.get("/readyz").send().await.unwrap()).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["writable"], true, "{body}");
    assert!(body["write_problem"].is_null(), "{body}");
    app.stop().await;
}
