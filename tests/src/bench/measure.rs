//! What the bench reads about the system under test: resident memory of the binaries (/proc), their
//! request counters (/metrics), the API server's own request counter, and NATS connections from the
//! server's monitoring endpoint. Reads only; starts and stops nothing.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;
use serde_json::Value;

use crate::process::{OperatorProcess, dechunk};

/// Resident set size of a process in bytes, from /proc/<pid>/status (0 if it is gone).
pub fn rss_bytes(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|line| line.strip_prefix("VmRSS:"))
                .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map_or(0, |kib| kib * 1024)
}

/// Resident set size of a running binary in MiB.
pub fn rss_mib(process: &OperatorProcess) -> f64 {
    mib(process.child.id().map_or(0, rss_bytes))
}

#[allow(clippy::cast_precision_loss)] // memory sizes are far below 2^52
pub fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// Sums a Prometheus counter family by one label: `family{...label="x"...} n` → {x: n}.
pub fn sum_by_label(metrics: &str, family: &str, label: &str) -> BTreeMap<String, f64> {
    let prefix = format!("{family}{{");
    let key = format!("{label}=\"");
    let mut sums = BTreeMap::new();
    for line in metrics.lines().filter(|l| l.starts_with(&prefix)) {
        let Some(value) = line.rsplit(' ').next().and_then(|n| n.parse::<f64>().ok()) else {
            continue;
        };
        let label_value = line
            .split_once(&key)
            .and_then(|(_, rest)| rest.split_once('"'))
            .map_or("", |(v, _)| v);
        *sums.entry(label_value.to_ascii_lowercase()).or_insert(0.0) += value;
    }
    sums
}

/// `after - before`, per key, keeping only keys that moved.
pub fn delta(before: &BTreeMap<String, f64>, after: &BTreeMap<String, f64>) -> BTreeMap<String, u64> {
    after
        .iter()
        .filter_map(|(key, now)| {
            let moved = now - before.get(key).copied().unwrap_or(0.0);
            // Counters are integers; the cast rounds a float that holds one.
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            let moved = moved.round().max(0.0) as u64;
            (moved > 0).then(|| (key.clone(), moved))
        })
        .collect()
}

/// Kubernetes API requests a binary made, by verb (lowercase), from its /metrics.
pub async fn requests_by_verb(process: &OperatorProcess) -> anyhow::Result<BTreeMap<String, f64>> {
    Ok(sum_by_label(
        &process.metrics().await?,
        "rest_client_requests_total",
        "verb",
    ))
}

/// Writes among verbs (create, update, patch, delete, deletecollection, apply).
pub fn writes(by_verb: &BTreeMap<String, u64>) -> u64 {
    by_verb
        .iter()
        .filter(|(verb, _)| {
            matches!(
                verb.as_str(),
                "create" | "update" | "patch" | "delete" | "deletecollection" | "apply" | "post" | "put"
            )
        })
        .map(|(_, n)| n)
        .sum()
}

/// The API server's `apiserver_request_total`, by verb (lowercase), read with the admin client.
pub async fn apiserver_requests(client: &kube::Client) -> anyhow::Result<BTreeMap<String, f64>> {
    let request = http::Request::get("/metrics").body(Vec::new())?;
    let text = client.request_text(request).await?;
    Ok(sum_by_label(&text, "apiserver_request_total", "verb"))
}

/// One NATS connection as the monitoring endpoint lists it.
#[derive(Clone, Debug, Serialize)]
pub struct NatsConnection {
    pub cid: u64,
    pub name: String,
    pub open: bool,
}

/// Every connection the NATS server knows (open, and the closed ones it remembers), from /connz.
pub async fn nats_connections(monitor_url: &str) -> anyhow::Result<Vec<NatsConnection>> {
    let port: u16 = monitor_url
        .trim_end_matches('/')
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .ok_or_else(|| anyhow::anyhow!("no port in NATS_MONITOR_URL {monitor_url}"))?;
    let body = get(port, "/connz?subs=0&state=any&limit=100000").await?;
    let connz: Value = serde_json::from_str(&body)?;
    Ok(connz["connections"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| NatsConnection {
            cid: c["cid"].as_u64().unwrap_or(0),
            name: c["name"].as_str().unwrap_or("").to_string(),
            open: c["stop"].is_null(),
        })
        .collect())
}

/// GET on 127.0.0.1:`port`, returning the body with chunked transfer encoding undone.
pub async fn get(port: u16, path: &str) -> anyhow::Result<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let connect = tokio::net::TcpStream::connect(("127.0.0.1", port));
    let mut stream = tokio::time::timeout(Duration::from_secs(10), connect).await??;
    let request = format!("GET {path} HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await?;
    let mut response = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), stream.read_to_end(&mut response)).await??;
    let response = String::from_utf8_lossy(&response);
    let (head, body) = response
        .split_once("\r\n\r\n")
        .ok_or_else(|| anyhow::anyhow!("malformed HTTP response from port {port}"))?;
    if head.to_ascii_lowercase().contains("transfer-encoding: chunked") {
        dechunk(body)
    } else {
        Ok(body.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_sum_by_verb_and_deltas_keep_what_moved() {
        let before = sum_by_label(
            "rest_client_requests_total{code=\"200\",resource=\"pods\",verb=\"list\"} 2\n\
             rest_client_requests_total{code=\"200\",resource=\"secrets\",verb=\"list\"} 1\n\
             rest_client_requests_total{code=\"201\",resource=\"pods\",verb=\"create\"} 5\n",
            "rest_client_requests_total",
            "verb",
        );
        assert_eq!(before.get("list"), Some(&3.0));
        let after = BTreeMap::from([("list".to_string(), 3.0), ("create".to_string(), 9.0)]);
        let moved = delta(&before, &after);
        assert_eq!(moved, BTreeMap::from([("create".to_string(), 4)]));
        assert_eq!(writes(&moved), 4);
    }

    #[test]
    fn chunked_bodies_are_joined() {
        assert_eq!(
            dechunk("5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n").ok().as_deref(),
            Some("hello world")
        );
    }
}
