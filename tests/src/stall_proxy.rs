//! `StallProxy`: a TCP relay on 127.0.0.1 in front of another address whose traffic a test can hold in
//! both directions and release later. It stands in for a network partition between one process and the
//! API server (the connection stays open, bytes neither arrive nor fail) on a machine where the tests
//! don't get to rewrite the host's packet filter. Touches only the sockets it opens.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// A running relay; dropping it stops accepting (open connections end when either side closes).
#[derive(Debug)]
pub struct StallProxy {
    pub port: u16,
    held: Arc<watch::Sender<bool>>,
    in_hand: Arc<AtomicUsize>,
    acceptor: tokio::task::JoinHandle<()>,
}

impl StallProxy {
    /// Relays every connection made to the returned port to `upstream` (`host:port`).
    pub async fn start(upstream: String) -> anyhow::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        let held = Arc::new(watch::channel(false).0);
        let relay_held = held.clone();
        let in_hand = Arc::new(AtomicUsize::new(0));
        let relay_in_hand = in_hand.clone();
        let acceptor = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let Ok(server) = TcpStream::connect(&upstream).await else {
                    continue;
                };
                let (client_read, client_write) = client.into_split();
                let (server_read, server_write) = server.into_split();
                let (held, in_hand) = (relay_held.clone(), relay_in_hand.clone());
                tokio::spawn(pump(client_read, server_write, held.subscribe(), in_hand.clone()));
                tokio::spawn(pump(server_read, client_write, held.subscribe(), in_hand));
            }
        });
        Ok(Self {
            port,
            held,
            in_hand,
            acceptor,
        })
    }

    /// From now on no byte passes in either direction (what was read is kept, not dropped).
    pub fn hold(&self) {
        self.held.send_replace(true);
    }

    /// How many bytes the relay has read and not passed on yet: above 0 while held means a side has sent
    /// something that is waiting.
    pub fn holding(&self) -> usize {
        self.in_hand.load(Ordering::SeqCst)
    }

    /// Lets the traffic through again, the held bytes first.
    pub fn release(&self) {
        self.held.send_replace(false);
    }
}

impl Drop for StallProxy {
    fn drop(&mut self) {
        self.acceptor.abort();
    }
}

/// Copies `from` to `to`, waiting before every write while the traffic is held.
async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    mut held: watch::Receiver<bool>,
    in_hand: Arc<AtomicUsize>,
) {
    let mut buffer = vec![0u8; 64 * 1024];
    loop {
        // Reading goes on while held (one buffer's worth), so `holding` sees what a side has sent.
        let read = match from.read(&mut buffer).await {
            Ok(0) | Err(_) => break,
            Ok(read) => read,
        };
        in_hand.fetch_add(read, Ordering::SeqCst);
        let passed =
            held.wait_for(|held| !*held).await.is_ok() && to.write_all(&buffer[..read]).await.is_ok();
        in_hand.fetch_sub(read, Ordering::SeqCst);
        if !passed {
            return;
        }
    }
    let _ = to.shutdown().await;
}

/// A copy of the kubeconfig at `path` whose server is the relay on `port`, written next to `path`.
pub fn kubeconfig_through(path: &std::path::Path, port: u16) -> anyhow::Result<std::path::PathBuf> {
    let text = std::fs::read_to_string(path)?;
    let (before, after) = text
        .split_once("server: https://127.0.0.1:")
        .ok_or_else(|| anyhow::anyhow!("no 127.0.0.1 server in {}", path.display()))?;
    let rest = after.trim_start_matches(|c: char| c.is_ascii_digit());
    let copy = path.with_file_name(format!("kubeconfig-via-{port}"));
    std::fs::write(&copy, format!("{before}server: https://127.0.0.1:{port}{rest}"))?;
    Ok(copy)
}

/// The `host:port` of the API server that the kubeconfig at `path` names.
pub fn api_server_of(path: &std::path::Path) -> anyhow::Result<String> {
    let text = std::fs::read_to_string(path)?;
    let (_, after) = text
        .split_once("server: https://")
        .ok_or_else(|| anyhow::anyhow!("no https server in {}", path.display()))?;
    Ok(after.lines().next().unwrap_or_default().trim().to_string())
}
