//! The FTP server around the stand-in: serving a listener, starting on a
//! free port, and libunftp's authenticator and storage back end, which
//! answer from [`FtpSim`] and apply its faults.

use std::fmt::Debug;
use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use unftp_core::auth::{AuthenticationError, Authenticator, Credentials, DefaultUser, Principal};
use unftp_core::storage::{Error, ErrorKind, Fileinfo, Metadata, StorageBackend};

use super::{FtpFault, FtpSim, key};

impl FtpSim {
    /// Serve FTP on `listener` (127.0.0.1) until the task is dropped.
    pub async fn serve(self, listener: tokio::net::TcpListener) -> std::io::Result<()> {
        loop {
            let (stream, _) = listener.accept().await?;
            // Replies go out at once (BOM's server does not hold a 226
            // behind the 150 for a delayed ACK either).
            let _ = stream.set_nodelay(true);
            let sim = self.clone();
            tokio::spawn(async move {
                let backend = Backend { sim: sim.clone() };
                let server = libunftp::ServerBuilder::with_authenticator(
                    Box::new(move || backend.clone()),
                    Arc::new(Auth { sim: sim.clone() }),
                )
                .greeting("raincast's stand-in for BOM's anonymous FTP service")
                .passive_host(std::net::Ipv4Addr::LOCALHOST)
                .passive_ports(49152..=65534)
                .idle_session_timeout(120)
                .build();
                if let Ok(server) = server {
                    let _ = server.service(stream).await;
                }
            });
        }
    }
}

/// The stand-in on 127.0.0.1, serving until dropped.
pub struct Running {
    pub sim: FtpSim,
    pub host: String,
    pub port: u16,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Start `sim` on a free port of 127.0.0.1.
pub async fn start(sim: FtpSim) -> std::io::Result<Running> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    let task = tokio::spawn(sim.clone().serve(listener));
    Ok(Running {
        sim,
        host: "127.0.0.1".into(),
        port,
        task,
    })
}

#[derive(Debug)]
struct Auth {
    sim: FtpSim,
}

#[async_trait]
impl Authenticator for Auth {
    async fn authenticate(
        &self,
        username: &str,
        _creds: &Credentials,
    ) -> Result<Principal, AuthenticationError> {
        if self.sim.fault() == Some(FtpFault::RefuseLogin) {
            return Err(AuthenticationError::BadPassword);
        }
        Ok(Principal {
            username: username.to_string(),
        })
    }
}

#[derive(Debug, Clone)]
struct Backend {
    sim: FtpSim,
}

#[derive(Debug)]
struct Meta {
    len: u64,
    dir: bool,
}

impl Metadata for Meta {
    fn len(&self) -> u64 {
        self.len
    }
    fn is_dir(&self) -> bool {
        self.dir
    }
    fn is_file(&self) -> bool {
        !self.dir
    }
    fn is_symlink(&self) -> bool {
        false
    }
    fn modified(&self) -> unftp_core::storage::Result<std::time::SystemTime> {
        Ok(std::time::SystemTime::UNIX_EPOCH)
    }
    fn gid(&self) -> u32 {
        0
    }
    fn uid(&self) -> u32 {
        0
    }
}

/// A reader that never yields another byte (a stalled transfer).
struct Stalled;

impl tokio::io::AsyncRead for Stalled {
    fn poll_read(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
        _buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Pending
    }
}

fn denied() -> Error {
    Error::from(ErrorKind::PermissionDenied)
}

#[async_trait]
impl StorageBackend<DefaultUser> for Backend {
    type Metadata = Meta;

    async fn metadata<P: AsRef<Path> + Send + Debug>(
        &self,
        _user: &DefaultUser,
        path: P,
    ) -> unftp_core::storage::Result<Meta> {
        match self.sim.file(&key(path.as_ref())) {
            Some(b) => Ok(Meta {
                len: b.len() as u64,
                dir: false,
            }),
            None => Ok(Meta { len: 0, dir: true }),
        }
    }

    async fn list<P: AsRef<Path> + Send + Debug>(
        &self,
        _user: &DefaultUser,
        _path: P,
    ) -> unftp_core::storage::Result<Vec<Fileinfo<std::path::PathBuf, Meta>>>
    where
        <Self as StorageBackend<DefaultUser>>::Metadata: Metadata,
    {
        Ok(Vec::new())
    }

    async fn get<P: AsRef<Path> + Send + Debug>(
        &self,
        _user: &DefaultUser,
        path: P,
        _start_pos: u64,
    ) -> unftp_core::storage::Result<Box<dyn tokio::io::AsyncRead + Send + Sync + Unpin>> {
        if let Ok(mut n) = self.sim.requests.lock() {
            *n += 1;
        }
        let Some(bytes) = self.sim.file(&key(path.as_ref())) else {
            return Err(Error::from(ErrorKind::PermanentFileNotAvailable));
        };
        let half = bytes[..bytes.len() / 2].to_vec();
        Ok(match self.sim.fault() {
            Some(FtpFault::Stall) => {
                use tokio::io::AsyncReadExt;
                Box::new(std::io::Cursor::new(half).chain(Stalled))
            }
            Some(FtpFault::Truncate) => Box::new(std::io::Cursor::new(half)),
            _ => Box::new(std::io::Cursor::new(bytes)),
        })
    }

    async fn put<
        P: AsRef<Path> + Send + Debug,
        R: tokio::io::AsyncRead + Send + Sync + Unpin + 'static,
    >(
        &self,
        _user: &DefaultUser,
        _input: R,
        _path: P,
        _start_pos: u64,
    ) -> unftp_core::storage::Result<u64> {
        Err(denied())
    }

    async fn del<P: AsRef<Path> + Send + Debug>(
        &self,
        _user: &DefaultUser,
        _path: P,
    ) -> unftp_core::storage::Result<()> {
        Err(denied())
    }

    async fn mkd<P: AsRef<Path> + Send + Debug>(
        &self,
        _user: &DefaultUser,
        _path: P,
    ) -> unftp_core::storage::Result<()> {
        Err(denied())
    }

    async fn rename<P: AsRef<Path> + Send + Debug>(
        &self,
        _user: &DefaultUser,
        _from: P,
        _to: P,
    ) -> unftp_core::storage::Result<()> {
        Err(denied())
    }

    async fn rmd<P: AsRef<Path> + Send + Debug>(
        &self,
        _user: &DefaultUser,
        _path: P,
    ) -> unftp_core::storage::Result<()> {
        Err(denied())
    }

    async fn cwd<P: AsRef<Path> + Send + Debug>(
        &self,
        _user: &DefaultUser,
        _path: P,
    ) -> unftp_core::storage::Result<()> {
        Ok(())
    }
}
