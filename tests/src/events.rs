//! Waiting for a Kubernetes Event in the test's namespace. Reads Events only.

use k8s_openapi::api::events::v1::Event;
use kube::Api;
use kube::api::ListParams;

use crate::http_apps::SETTLE;
use crate::namespace::TestContext;
use crate::wait;

/// Waits until an Event with `reason` that also satisfies `matches` exists in the test's namespace.
pub async fn wait_for_event(
    ctx: &TestContext,
    reason: &str,
    matches: impl Fn(&Event) -> bool,
) -> anyhow::Result<Event> {
    let matches = &matches;
    let events: Api<Event> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
    let events = &events;
    wait::until(&format!("an Event {reason}"), SETTLE, || async move {
        let list = events
            .list(&ListParams::default())
            .await
            .map_err(|e| e.to_string())?;
        list.items
            .into_iter()
            .find(|e| e.reason.as_deref() == Some(reason) && matches(e))
            .ok_or_else(|| "none yet".to_string())
    })
    .await
}

/// Whether the Event regards the object named `name`.
pub fn regards(event: &Event, name: &str) -> bool {
    event.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(name)
}
