//! One anonymous FTP session with BOM (suppaftp, tokio): passive mode,
//! binary transfers, a timeout on the connection, on every command and on
//! every read (a stalled transfer fails after `ftp.timeout_secs` without a
//! byte), and a cap on a file's size. Errors are sorted into what says the
//! source as a whole is refusing us (counted towards fail-fast) and what
//! concerns one file.

use std::time::Duration;

use suppaftp::tokio::AsyncFtpStream;
use suppaftp::types::FileType;
use suppaftp::{FtpError, Mode, Status};
use tokio::io::AsyncReadExt;

use crate::config::FtpConfig;

/// The largest file accepted: a state product is about 0.5 MB.
pub const MAX_FILE_BYTES: usize = 8 * 1024 * 1024;

/// Why a download failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchError {
    /// The server refused us: the connection was refused or reset, or it
    /// answered 421 (not available) or 530 (not logged in). Systemic.
    Refused(String),
    /// No answer in time: connecting, a command, or a stalled transfer. Systemic.
    TimedOut(String),
    /// 550: no such file (or not ours to read). This file only.
    NotFound(String),
    /// Anything else (a broken transfer, an unexpected reply, too large).
    Failed(String),
}

impl FetchError {
    /// Whether the source as a whole is failing (towards fail-fast).
    pub fn systemic(&self) -> bool {
        matches!(self, FetchError::Refused(_) | FetchError::TimedOut(_))
    }

    pub fn status(&self) -> &'static str {
        match self {
            FetchError::Refused(_) => "refused",
            FetchError::TimedOut(_) => "timed_out",
            FetchError::NotFound(_) => "not_found",
            FetchError::Failed(_) => "failed",
        }
    }

    pub fn message(&self) -> &str {
        match self {
            FetchError::Refused(m)
            | FetchError::TimedOut(m)
            | FetchError::NotFound(m)
            | FetchError::Failed(m) => m,
        }
    }
}

impl std::fmt::Display for FetchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.message())
    }
}

fn classify(what: &str, e: FtpError) -> FetchError {
    match e {
        FtpError::ConnectionError(io) => {
            use std::io::ErrorKind as K;
            let m = format!("{what}: {io}");
            match io.kind() {
                K::ConnectionRefused
                | K::ConnectionReset
                | K::ConnectionAborted
                | K::BrokenPipe
                | K::UnexpectedEof => FetchError::Refused(m),
                K::TimedOut => FetchError::TimedOut(m),
                _ => FetchError::Failed(m),
            }
        }
        FtpError::UnexpectedResponse(r) => {
            let body = String::from_utf8_lossy(&r.body).trim().to_string();
            let m = format!("{what}: the server answered {body}");
            match r.status {
                Status::NotAvailable | Status::NotLoggedIn => FetchError::Refused(m),
                Status::FileUnavailable => FetchError::NotFound(m),
                _ => FetchError::Failed(m),
            }
        }
        other => FetchError::Failed(format!("{what}: {other}")),
    }
}

async fn timed<T>(
    limit: Duration,
    what: &str,
    f: impl std::future::Future<Output = Result<T, FtpError>>,
) -> Result<T, FetchError> {
    match tokio::time::timeout(limit, f).await {
        Ok(r) => r.map_err(|e| classify(what, e)),
        Err(_) => Err(FetchError::TimedOut(format!(
            "{what}: no answer within {} s",
            limit.as_secs()
        ))),
    }
}

/// A logged-in session.
pub struct Session {
    ftp: AsyncFtpStream,
    timeout: Duration,
}

impl Session {
    /// Connect to `cfg.host:cfg.port` and log in (passive mode, binary).
    pub async fn open(cfg: &FtpConfig) -> Result<Session, FetchError> {
        let timeout = Duration::from_secs(cfg.timeout_secs);
        let target = format!("{}:{}", cfg.host, cfg.port);
        let addr = match tokio::time::timeout(timeout, tokio::net::lookup_host(&target)).await {
            Ok(Ok(mut addrs)) => addrs.next().ok_or_else(|| {
                FetchError::Failed(format!("{target}: the name resolves to no address"))
            })?,
            Ok(Err(e)) => {
                return Err(FetchError::Failed(format!("cannot resolve {target}: {e}")));
            }
            Err(_) => {
                return Err(FetchError::TimedOut(format!(
                    "resolving {target}: no answer within {} s",
                    timeout.as_secs()
                )));
            }
        };
        let what = format!("connecting to {target}");
        let mut ftp = timed(
            timeout + Duration::from_millis(100),
            &what,
            AsyncFtpStream::connect_timeout(addr, timeout),
        )
        .await?;
        ftp.set_mode(Mode::Passive);
        // Commands go out at once: a session is a short exchange of small
        // lines, where Nagle's algorithm only adds a delayed-ACK wait.
        if let Err(e) = ftp.get_ref().await.set_nodelay(true) {
            tracing::debug!("FTP control connection: cannot set TCP_NODELAY: {e}");
        }
        timed(
            timeout,
            &format!("logging in to {target} as {}", cfg.user),
            ftp.login(cfg.user.as_str(), cfg.password.as_str()),
        )
        .await?;
        timed(timeout, "TYPE I", ftp.transfer_type(FileType::Binary)).await?;
        Ok(Session { ftp, timeout })
    }

    /// Download `path` whole. After an error the session may be unusable:
    /// drop it and open another.
    pub async fn get(&mut self, path: &str) -> Result<Vec<u8>, FetchError> {
        let what = format!("RETR {path}");
        let mut stream = timed(self.timeout, &what, self.ftp.retr_as_stream(path)).await?;
        let mut body = Vec::with_capacity(64 * 1024);
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match tokio::time::timeout(self.timeout, stream.read(&mut buf)).await {
                Ok(Ok(n)) => n,
                Ok(Err(e)) => {
                    return Err(FetchError::Failed(format!(
                        "{what}: the transfer broke after {} bytes: {e}",
                        body.len()
                    )));
                }
                Err(_) => {
                    return Err(FetchError::TimedOut(format!(
                        "{what}: the transfer stalled after {} bytes (nothing for {} s)",
                        body.len(),
                        self.timeout.as_secs()
                    )));
                }
            };
            if n == 0 {
                break;
            }
            if body.len() + n > MAX_FILE_BYTES {
                return Err(FetchError::Failed(format!(
                    "{what}: larger than {MAX_FILE_BYTES} bytes"
                )));
            }
            body.extend_from_slice(&buf[..n]);
        }
        timed(self.timeout, &what, stream.finish()).await?;
        Ok(body)
    }

    /// Say goodbye (best effort).
    pub async fn quit(mut self) {
        let _ = tokio::time::timeout(self.timeout, self.ftp.quit()).await;
    }
}
