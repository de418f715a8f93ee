//! A snapshot (insta) of one admin page's structure: the models page's
//! headings, table columns, links and the actions its forms offer. Cell
//! values (metrics, times) are left out so the snapshot changes only when
//! the page's shape does.

use reqwest::header::COOKIE;
use scraper::{Html, Selector};

use super::{admin_app, login};

fn text(e: scraper::ElementRef<'_>) -> String {
    e.text()
        .collect::<Vec<_>>()
        .join(" ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

#[tokio::test(flavor = "multi_thread")]
async fn models_page_structure() {
    let app = admin_app(|_| {}).await;
    let (cookie, _) = login(&app).await;
    let resp = app
        .get("/admin/models")
        .header(COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let page = Html::parse_document(&resp.text().await.unwrap());
    let sel = |s: &str| Selector::parse(s).unwrap();
    let mut outline = Vec::new();
    outline.push(format!(
        "title: {}",
        text(page.select(&sel("title")).next().unwrap())
    ));
    for h in page.select(&sel("main h1, main h2, main h3")) {
        outline.push(format!("{}: {}", h.value().name(), text(h)));
    }
    for table in page.select(&sel("main table")) {
        let cols: Vec<String> = table.select(&sel("th")).map(text).collect();
        let rows = table.select(&sel("tbody tr")).count();
        outline.push(format!("table ({rows} rows): {}", cols.join(" | ")));
    }
    for form in page.select(&sel("main form")) {
        let action = form.value().attr("action").unwrap_or("");
        let buttons: Vec<String> = form.select(&sel("button")).map(text).collect();
        outline.push(format!("form {action}: {}", buttons.join(", ")));
    }
    for a in page.select(&sel("nav a")) {
        outline.push(format!(
            "nav: {} -> {}",
            text(a),
            a.value().attr("href").unwrap_or("")
        ));
    }
    insta::assert_snapshot!(outline.join("\n"));
}
