//! `wasmcloud-host-operator leaf-link`: the probe each host pod runs as a native sidecar, so the pod's
//! readiness covers the NATS leaf's connection to the hub (stock nats-server has no endpoint that fails
//! without it: `/healthz` checks local JetStream, `/leafz` always answers 200). `/readyz` answers 200 while
//! the leaf's `/leafz` lists a connection and 503 with the reason otherwise; `/livez` always 200. It touches
//! only the leaf's monitor inside the pod and its own listener: no API client, no async runtime.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

/// The sidecar's port (named `leaf-link`): the kubelet probes it on the pod IP.
pub const LEAF_LINK_PORT: i32 = 8223;
/// Each read, write and connect, to the kubelet and to the leaf, gives up after this.
const IO_TIMEOUT: Duration = Duration::from_secs(1);
/// A request line and headers longer than this are refused (the kubelet's are a few hundred bytes).
const MAX_REQUEST: usize = 8 << 10;

/// `leaf-link` arguments.
#[derive(clap::Args, Debug, Clone)]
pub struct LeafLinkArgs {
    /// Where the probe listens.
    #[arg(long, default_value = "0.0.0.0:8223")]
    pub listen: SocketAddr,
    /// The leaf's HTTP monitor, inside the pod.
    #[arg(long, default_value = "127.0.0.1:8222")]
    pub monitor: SocketAddr,
}

/// Serves until killed; returns only when the listener can't be bound.
pub fn main(args: &LeafLinkArgs) -> std::process::ExitCode {
    match serve(args) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("leaf-link: listen on {}: {error}", args.listen);
            std::process::ExitCode::FAILURE
        }
    }
}

fn serve(args: &LeafLinkArgs) -> std::io::Result<()> {
    let listener = TcpListener::bind(args.listen)?;
    // Tests read the bound address from this line (they listen on port 0).
    eprintln!(
        "leaf-link: listening on {}, leaf monitor {}",
        listener.local_addr()?,
        args.monitor
    );
    let monitor = args.monitor;
    for stream in listener.incoming().flatten() {
        // One thread per request: a stalled client never delays the kubelet's next probe.
        std::thread::spawn(move || {
            if let Err(error) = answer(stream, monitor) {
                eprintln!("leaf-link: answering a probe: {error}");
            }
        });
    }
    Ok(())
}

fn answer(mut stream: TcpStream, monitor: SocketAddr) -> std::io::Result<()> {
    stream.set_read_timeout(Some(IO_TIMEOUT))?;
    stream.set_write_timeout(Some(IO_TIMEOUT))?;
    let (status, body) = match request_path(&mut stream)?.as_deref() {
        Some("/livez") => (200, "ok\n".to_string()),
        Some("/readyz") => readiness(leaf_connections(monitor)),
        Some(_) => (404, "not found: /readyz or /livez\n".to_string()),
        None => (400, "bad request\n".to_string()),
    };
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        _ => "Service Unavailable",
    };
    write!(
        stream,
        "HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    stream.flush()
}

/// The answer to `/readyz` for what the leaf's monitor said.
fn readiness(connections: Result<u64, String>) -> (u16, String) {
    match connections {
        Ok(0) => (
            503,
            "not linked: the NATS leaf has no connection to the hub (see the nats-leaf container's log)\n"
                .into(),
        ),
        Ok(n) => (
            200,
            format!("linked: the NATS leaf has {n} connection(s) to the hub\n"),
        ),
        Err(problem) => (503, format!("not linked: {problem}\n")),
    }
}

/// The path of the request on `stream` (without its query), or none if it isn't an HTTP request.
fn request_path(stream: &mut TcpStream) -> std::io::Result<Option<String>> {
    let mut head = Vec::new();
    let mut buffer = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < MAX_REQUEST {
        let read = stream.read(&mut buffer)?;
        if read == 0 {
            break;
        }
        head.extend_from_slice(&buffer[..read]);
    }
    Ok(path_of(&String::from_utf8_lossy(&head)))
}

fn path_of(head: &str) -> Option<String> {
    let mut words = head.lines().next()?.split_whitespace();
    let (_method, target) = (words.next()?, words.next()?);
    let path = target.split('?').next().unwrap_or(target);
    path.starts_with('/').then(|| path.to_string())
}

/// How many leafnode connections the leaf at `monitor` has (its `/leafz`): a leaf that only solicits, as
/// ours does, lists exactly its remotes to the hub.
fn leaf_connections(monitor: SocketAddr) -> Result<u64, String> {
    let unreachable =
        |error: std::io::Error| format!("the leaf's monitor {monitor} does not answer: {error}");
    let mut stream = TcpStream::connect_timeout(&monitor, IO_TIMEOUT).map_err(unreachable)?;
    stream.set_read_timeout(Some(IO_TIMEOUT)).map_err(unreachable)?;
    stream.set_write_timeout(Some(IO_TIMEOUT)).map_err(unreachable)?;
    // HTTP/1.0: the server closes after the answer and never chunks it.
    stream
        .write_all(b"GET /leafz HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        .map_err(unreachable)?;
    let mut response = Vec::new();
    stream
        .take(4 << 20)
        .read_to_end(&mut response)
        .map_err(unreachable)?;
    connections_in(&String::from_utf8_lossy(&response))
        .map_err(|problem| format!("the leaf's monitor {monitor} answered /leafz with {problem}"))
}

/// The `leafnodes` count of a `/leafz` HTTP response.
fn connections_in(response: &str) -> Result<u64, String> {
    #[derive(serde::Deserialize)]
    struct Leafz {
        leafnodes: u64,
    }
    let (head, body) = response
        .split_once("\r\n\r\n")
        .ok_or_else(|| "an incomplete response".to_string())?;
    let status = head.split_whitespace().nth(1).unwrap_or_default();
    if status != "200" {
        return Err(format!("status {status}"));
    }
    serde_json::from_str::<Leafz>(body)
        .map(|leafz| leafz.leafnodes)
        .map_err(|error| format!("a body that is not /leafz JSON ({error})"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(status: &str, body: &str) -> String {
        format!("HTTP/1.0 {status}\r\nContent-Type: application/json\r\n\r\n{body}")
    }

    #[test]
    fn counts_the_leafs_connections() {
        let linked =
            r#"{"server_id":"N","now":"2026-12-03T00:00:00Z","leafnodes":1,"leafs":[{"name":"hub"}]}"#;
        assert_eq!(connections_in(&response("200 OK", linked)), Ok(1));
        let alone = r#"{"server_id":"N","leafnodes":0,"leafs":[]}"#;
        assert_eq!(connections_in(&response("200 OK", alone)), Ok(0));
    }

    #[test]
    fn anything_but_a_leafz_answer_is_not_linked() {
        assert!(connections_in(&response("404 Not Found", "{}")).is_err_and(|e| e.contains("404")));
        assert!(connections_in(&response("200 OK", "<html>")).is_err_and(|e| e.contains("not /leafz")));
        assert!(connections_in("HTTP/1.0 200 OK\r\n").is_err_and(|e| e.contains("incomplete")));
    }

    #[test]
    fn ready_only_with_a_connection() {
        assert_eq!(readiness(Ok(1)).0, 200);
        assert_eq!(readiness(Ok(0)).0, 503);
        let (status, body) = readiness(Err("the leaf's monitor does not answer".into()));
        assert_eq!(status, 503);
        assert!(body.contains("does not answer"), "{body}");
    }

    #[test]
    fn paths_without_queries() {
        assert_eq!(
            path_of("GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n").as_deref(),
            Some("/readyz")
        );
        assert_eq!(
            path_of("GET /livez?verbose HTTP/1.1\r\n").as_deref(),
            Some("/livez")
        );
        assert_eq!(path_of("garbage"), None);
        assert_eq!(path_of(""), None);
    }
}
