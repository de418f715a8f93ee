//! A real HTTP server on 127.0.0.1 that serves the project's 686 real DWO
//! files at BOM's paths, with per-file fault injection.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

/// The bundled archive of real DWO files (`data/bom/`).
pub fn archive() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("data/bom/bom_dwo_raw_2024-08_2025-09.tar.gz")
}

/// The 686 files by name (`IDCJDW2124.202409`), read once per test process.
pub fn files() -> &'static HashMap<String, Arc<Vec<u8>>> {
    static FILES: OnceLock<HashMap<String, Arc<Vec<u8>>>> = OnceLock::new();
    FILES.get_or_init(|| {
        let tarball = archive();
        assert!(
            tarball.is_file(),
            "bundled test data missing: {}",
            tarball.display()
        );
        let dir = tempfile::tempdir().expect("tempdir");
        let status = std::process::Command::new("tar")
            .arg("-xzf")
            .arg(&tarball)
            .arg("-C")
            .arg(dir.path())
            .status()
            .expect("running tar");
        assert!(status.success(), "tar -xzf {} failed", tarball.display());
        let mut files = HashMap::new();
        for entry in std::fs::read_dir(dir.path().join("bom_dwo_raw")).expect("bom_dwo_raw/") {
            let path = entry.expect("dir entry").path();
            let name = path.file_name().unwrap().to_string_lossy().to_string();
            if let Some(stem) = name.strip_suffix(".csv") {
                files.insert(stem.to_string(), Arc::new(std::fs::read(&path).unwrap()));
            }
        }
        assert_eq!(files.len(), 686, "files in {}", tarball.display());
        files
    })
}

/// What to do instead of serving a file normally.
#[derive(Debug, Clone)]
pub enum Fault {
    /// Answer 500 this many times, then serve the file.
    ServerErrorThenOk(u32),
    Forbidden,
    /// Wait this long before answering.
    Slow(Duration),
    /// 200 with an HTML page.
    Html,
    /// 200 with this body instead of the file.
    Body(Vec<u8>),
    /// 302 to this URL (`{base}` is replaced by the server's own base URL),
    /// once; then the file is served.
    Redirect(String),
    /// This status with an HTML page (`text/html`), e.g. one of
    /// [`html_fixture`]'s firewall, maintenance or "not found" pages.
    Page {
        status: u16,
        body: Vec<u8>,
    },
}

/// A hand-built page of `tests/fixtures/bom_html/` (see its README).
pub fn html_fixture(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/bom_html")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[derive(Default)]
pub struct ServerState {
    faults: Mutex<HashMap<String, Fault>>,
    hits: Mutex<HashMap<String, u32>>,
    /// Every file asked for, in the order the requests arrived.
    order: Mutex<Vec<String>>,
    base_url: Mutex<String>,
}

pub struct BomServer {
    pub base_url: String,
    state: Arc<ServerState>,
    task: tokio::task::JoinHandle<()>,
}

impl BomServer {
    pub async fn start() -> Self {
        files();
        let state = Arc::new(ServerState::default());
        let app = Router::new()
            .route("/climate/dwo/{yyyymm}/text/{file}", get(serve))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        *state.base_url.lock().unwrap() = format!("http://{addr}");
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        BomServer {
            base_url: format!("http://{addr}"),
            state,
            task,
        }
    }

    /// Inject a fault for one file, e.g. `("IDCJDW2124", (2024, 9))`.
    pub fn fault(&self, code: &str, (y, m): (i32, u32), fault: Fault) {
        let key = format!("{code}.{y:04}{m:02}");
        self.state.faults.lock().unwrap().insert(key, fault);
    }

    /// Requests received for one file.
    pub fn hits(&self, code: &str, (y, m): (i32, u32)) -> u32 {
        let key = format!("{code}.{y:04}{m:02}");
        self.state
            .hits
            .lock()
            .unwrap()
            .get(&key)
            .copied()
            .unwrap_or(0)
    }

    /// Every file asked for (`IDCJDW2124.202409`), in arrival order.
    pub fn requested(&self) -> Vec<String> {
        self.state.order.lock().unwrap().clone()
    }
}

impl Drop for BomServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve(
    State(state): State<Arc<ServerState>>,
    Path((yyyymm, file)): Path<(String, String)>,
) -> Response {
    let Some(stem) = file.strip_suffix(".csv") else {
        return StatusCode::NOT_FOUND.into_response();
    };
    if !stem.ends_with(&format!(".{yyyymm}")) {
        return StatusCode::NOT_FOUND.into_response();
    }
    *state
        .hits
        .lock()
        .unwrap()
        .entry(stem.to_string())
        .or_default() += 1;
    state.order.lock().unwrap().push(stem.to_string());
    let fault = {
        let mut faults = state.faults.lock().unwrap();
        match faults.get_mut(stem) {
            Some(Fault::ServerErrorThenOk(n)) if *n > 0 => {
                *n -= 1;
                return (StatusCode::INTERNAL_SERVER_ERROR, "try again").into_response();
            }
            Some(Fault::Redirect(_)) => faults.remove(stem),
            other => other.cloned(),
        }
    };
    match fault {
        Some(Fault::Forbidden) => {
            return (StatusCode::FORBIDDEN, "<html><body>Forbidden</body></html>").into_response();
        }
        Some(Fault::Slow(d)) => tokio::time::sleep(d).await,
        Some(Fault::Html) => {
            return (
                StatusCode::OK,
                "<!DOCTYPE html>\r\n<html><head><title>Bureau of Meteorology</title></head>\
                 <body><p>This page is temporarily unavailable.</p></body></html>",
            )
                .into_response();
        }
        Some(Fault::Body(b)) => return (StatusCode::OK, b).into_response(),
        Some(Fault::Page { status, body }) => {
            let status = StatusCode::from_u16(status).expect("a valid status");
            return (status, [("content-type", "text/html")], body).into_response();
        }
        Some(Fault::Redirect(to)) => {
            let base = state.base_url.lock().unwrap().clone();
            return (
                StatusCode::FOUND,
                [("location", to.replace("{base}", &base))],
            )
                .into_response();
        }
        Some(Fault::ServerErrorThenOk(_)) | None => {}
    }
    match files().get(stem) {
        Some(bytes) => (
            StatusCode::OK,
            [("content-type", "text/csv")],
            bytes.as_ref().clone(),
        )
            .into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}
