//! Reading the API server's audit log (written by tests/env/env.sh: writes only, at Metadata level) to
//! see which process wrote what and when. Touches only that file.

use crate::env::TestEnv;

/// One write the API server received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Write {
    /// RFC 3339 with microseconds, as the API server writes it: sorts as text.
    pub received: String,
    pub user_agent: String,
    pub verb: String,
    pub resource: String,
    pub name: String,
}

/// The writes in `namespace` whose User-Agent starts with `agent_prefix`, in the order received.
pub fn writes_in(env: &TestEnv, namespace: &str, agent_prefix: &str) -> anyhow::Result<Vec<Write>> {
    // audit.log and the backup the API server rotates it into (audit-<time>.log).
    let logs = env.dir.join("logs");
    let mut text = String::new();
    for entry in std::fs::read_dir(&logs).map_err(|e| anyhow::anyhow!("{}: {e}", logs.display()))? {
        let path = entry?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        let is_log = path.extension().is_some_and(|e| e == "log");
        if name.starts_with("audit") && is_log {
            text.push_str(
                &std::fs::read_to_string(&path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?,
            );
        }
    }
    let mut writes: Vec<Write> = text
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|event| event["stage"] == "ResponseComplete")
        .filter(|event| event["objectRef"]["namespace"] == namespace)
        .filter_map(|event| {
            let field = |value: &serde_json::Value| value.as_str().unwrap_or_default().to_string();
            let write = Write {
                received: field(&event["requestReceivedTimestamp"]),
                user_agent: field(&event["userAgent"]),
                verb: field(&event["verb"]),
                resource: field(&event["objectRef"]["resource"]),
                name: field(&event["objectRef"]["name"]),
            };
            write.user_agent.starts_with(agent_prefix).then_some(write)
        })
        .collect();
    writes.sort_by(|a, b| a.received.cmp(&b.received));
    Ok(writes)
}

/// The writers in turn: consecutive writes of one User-Agent folded into one period. Pure.
pub fn periods(writes: &[Write]) -> Vec<&str> {
    let mut periods: Vec<&str> = Vec::new();
    for write in writes {
        if periods.last() != Some(&write.user_agent.as_str()) {
            periods.push(&write.user_agent);
        }
    }
    periods
}

/// A writer that wrote again after another one had started: the sign of two writers at once. Pure.
pub fn returning_writer<'a>(periods: &[&'a str]) -> Option<&'a str> {
    periods
        .iter()
        .enumerate()
        .find(|(i, writer)| periods[..*i].contains(writer))
        .map(|(_, writer)| *writer)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(at: &str, agent: &str) -> Write {
        Write {
            received: at.into(),
            user_agent: agent.into(),
            verb: "patch".into(),
            resource: "deployments".into(),
            name: "x".into(),
        }
    }

    #[test]
    fn a_writer_that_comes_back_is_found() {
        let handover = [write("1", "a"), write("2", "a"), write("3", "b"), write("4", "b")];
        assert_eq!(periods(&handover), vec!["a", "b"]);
        assert_eq!(returning_writer(&periods(&handover)), None);
        let overlap = [write("1", "a"), write("2", "b"), write("3", "a")];
        assert_eq!(returning_writer(&periods(&overlap)), Some("a"));
    }
}
