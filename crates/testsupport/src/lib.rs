//! Test support: servers on 127.0.0.1 that tests start, call and stop.
//!
//! [`Loopback::serve`] binds a listener on 127.0.0.1 port 0 and spawns a serve function on it (any
//! `serve_*(listener, ..., shutdown)` of the workspace, or an axum app with [`Loopback::router`]);
//! [`ZooServer::start`] does so for the zoo's HTTP server ([`flowcompile_zoo::http::serve_zoo`]) and
//! keeps the zoo for the test to compare against. Dropping a handle asks the server to stop
//! (graceful shutdown); [`Loopback::shutdown`] also waits for it and returns its result.
//! [`free_port`] gives a port nothing listens on yet, for servers started in another process.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! use std::sync::Arc;
//! use flowcompile_testsupport::ZooServer;
//! use flowcompile_zoo::http::ZooServeOptions;
//! use flowcompile_zoo::{Zoo, ZooConfig};
//! let zoo = Arc::new(Zoo::new(ZooConfig::default(), vec![]).unwrap());
//! let server = ZooServer::start(zoo, ZooServeOptions::default()).await;
//! assert!(server.base_url().starts_with("http://127.0.0.1:") && server.base_url().ends_with("/v1"));
//! server.shutdown().await.unwrap();
//! # }
//! ```
#![deny(missing_docs)]

use std::future::Future;
use std::sync::Arc;

use flowcompile_zoo::http::{serve_zoo, ZooServeOptions};
use flowcompile_zoo::Zoo;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A server running on a 127.0.0.1 listener in this test's runtime; dropping it asks it to stop.
#[derive(Debug)]
pub struct Loopback {
    origin: String,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

/// Resolves when the [`Loopback`] handle is dropped or shut down: the shutdown future a serve
/// function is given.
#[derive(Debug)]
pub struct Shutdown(oneshot::Receiver<()>);

impl Shutdown {
    /// Waits for the stop request (or for the handle to be dropped).
    pub async fn wait(self) {
        let _ = self.0.await;
    }
}

impl Loopback {
    /// Binds 127.0.0.1 port 0 and spawns `serve(listener, shutdown)`, e.g.
    /// `|l, s| serve_workflows(l, served, opts, s.wait())`.
    pub async fn serve<F, Fut>(serve: F) -> Loopback
    where
        F: FnOnce(TcpListener, Shutdown) -> Fut,
        Fut: Future<Output = std::io::Result<()>> + Send + 'static,
    {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a loopback port is free");
        let origin = format!(
            "http://{}",
            listener
                .local_addr()
                .expect("a bound listener has an address")
        );
        let (stop, rx) = oneshot::channel();
        let task = tokio::spawn(serve(listener, Shutdown(rx)));
        Loopback {
            origin,
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// Serves an axum app (e.g. a router with a test layer) with graceful shutdown.
    pub async fn router(app: axum::Router) -> Loopback {
        Loopback::serve(|listener, shutdown| async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(shutdown.wait())
                .await
        })
        .await
    }

    /// `http://127.0.0.1:{port}`, without a path.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// `http://127.0.0.1:{port}/v1`, the base URL an OpenAI-compatible client is given.
    pub fn base_url(&self) -> String {
        format!("{}/v1", self.origin)
    }

    /// Asks the server to stop, waits until it has finished the requests in flight and returns
    /// what its serve function returned.
    pub async fn shutdown(mut self) -> std::io::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let task = self.task.take().expect("a running server has its task");
        task.await.expect("the server task does not panic")
    }
}

impl Drop for Loopback {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// The zoo's HTTP server on loopback, with the zoo it serves.
pub struct ZooServer {
    server: Loopback,
    base_url: String,
    zoo: Arc<Zoo>,
}

impl ZooServer {
    /// Serves `zoo` with `opts` on 127.0.0.1 port 0 until dropped.
    pub async fn start(zoo: Arc<Zoo>, opts: ZooServeOptions) -> ZooServer {
        let served = zoo.clone();
        let server = Loopback::serve(move |listener, shutdown| {
            serve_zoo(listener, served, opts, shutdown.wait())
        })
        .await;
        ZooServer {
            base_url: server.base_url(),
            server,
            zoo,
        }
    }

    /// `http://127.0.0.1:{port}`, without a path.
    pub fn origin(&self) -> &str {
        self.server.origin()
    }

    /// `http://127.0.0.1:{port}/v1`.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The zoo being served (to compute the replies a test expects).
    pub fn zoo(&self) -> &Arc<Zoo> {
        &self.zoo
    }

    /// Stops the server and waits for it (see [`Loopback::shutdown`]).
    pub async fn shutdown(self) -> std::io::Result<()> {
        self.server.shutdown().await
    }
}

/// A 127.0.0.1 port free at the time of the call, for a server another process will bind.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a loopback port is free")
        .port()
}
