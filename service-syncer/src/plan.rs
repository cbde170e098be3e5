//! What one namespace should hold for one lattice: a Service per qualifying app, which host pods its
//! EndpointSlices list when it has no selector, and the apps that can't get one and why. While the
//! view's host list is still filling (right after a start), a pod whose host hasn't been heard from yet
//! keeps the endpoint it has: endpoints never shrink for lack of news. Pure: the lattice view, the
//! namespace's host configs, host pods and currently listed endpoints in, the plan out.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Instant;

use k8s_openapi::api::core::v1::{Pod, Service};
use kube::ResourceExt;
use wasmcloud_operator_types::WasmCloudHostConfig;

use crate::build;
use crate::inventory::LatticeView;
use crate::qualify::{HttpApp, Target};

/// The desired state of one (namespace, lattice).
#[derive(Debug, Default)]
pub struct Plan {
    pub services: Vec<PlannedService>,
    pub problems: Vec<Problem>,
}

/// One app's Service, and for a selector-less one the pods its slices list.
#[derive(Debug)]
pub struct PlannedService {
    pub app: HttpApp,
    pub service: Service,
    /// `None`: the Service's selector finds the pods.
    pub endpoint_pods: Option<Vec<Arc<Pod>>>,
}

/// An app that serves HTTP but gets no Service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub app: String,
    pub reason: &'static str,
    pub message: String,
}

/// Reason of a problem: the manifest can't be turned into a Service.
pub const INVALID_ADDRESS: &str = "InvalidAddress";
/// Reason of a problem: two apps map to one Service name.
pub const NAME_COLLISION: &str = "ServiceNameCollision";

/// The pods each of our Services' EndpointSlices list now, by Service name.
pub type Listed = BTreeMap<String, BTreeSet<String>>;

/// Plans `lattice` in the namespace of `owners` (its WasmCloudHostConfigs there). `pods` are the
/// namespace's host pods of the lattice; `listed` what our slices list now.
pub fn plan(
    lattice: &str,
    view: &LatticeView,
    owners: &[&WasmCloudHostConfig],
    pods: &[Arc<Pod>],
    listed: &Listed,
    now: Instant,
) -> Plan {
    let mut plan = Plan::default();
    let namespace = owners.first().and_then(|o| o.namespace());
    for (name, decision) in &view.apps {
        let app = match decision {
            Ok(app) => app.clone(),
            Err(error) => {
                plan.problems.push(Problem {
                    app: name.clone(),
                    reason: INVALID_ADDRESS,
                    message: error.to_string(),
                });
                continue;
            }
        };
        let Some(service) = build::service(&app, lattice, owners) else {
            continue;
        };
        if let Some(taken) = plan
            .services
            .iter()
            .find(|p| p.service.name_any() == service.name_any())
        {
            plan.problems.push(Problem {
                app: app.app.clone(),
                reason: NAME_COLLISION,
                message: format!(
                    "apps {} and {} both map to Service {}; rename one",
                    taken.app.app,
                    app.app,
                    service.name_any()
                ),
            });
            continue;
        }
        let endpoint_pods = (app.target == Target::Endpoints).then(|| {
            let mut serving = serving_pods(&app, view, namespace.as_deref(), pods);
            if view.hosts_settling(now).is_some() {
                let listed = listed.get(&service.name_any());
                let unheard: Vec<Arc<Pod>> = pods
                    .iter()
                    .filter(|pod| {
                        listed.is_some_and(|l| l.contains(&pod.name_any()))
                            && !view.knows_pod(&pod.name_any(), namespace.as_deref())
                            && !serving.iter().any(|s| s.name_any() == pod.name_any())
                    })
                    .cloned()
                    .collect();
                serving.extend(unheard);
                serving.sort_by_key(|pod| pod.name_any());
            }
            serving
        });
        plan.services.push(PlannedService {
            app,
            service,
            endpoint_pods,
        });
    }
    plan
}

/// The pods whose hosts run the app's HTTP server provider.
fn serving_pods(
    app: &HttpApp,
    view: &LatticeView,
    namespace: Option<&str>,
    pods: &[Arc<Pod>],
) -> Vec<Arc<Pod>> {
    pods.iter()
        .filter(|pod| {
            let name = pod.name_any();
            view.hosts.values().any(|host| {
                host.serves(&app.app, &app.image)
                    && host.pod().is_some_and(|(pod_name, pod_namespace)| {
                        pod_name == name && pod_namespace.is_none_or(|ns| Some(ns) == namespace)
                    })
            })
        })
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::{APP_ANNOTATION, decide, host_of_inventory};
    use crate::qualify;
    use serde_json::{Value, json};
    use std::time::Instant;

    const IMAGE: &str = "ghcr.io/wasmcloud/http-server:0.23.0";

    fn whc() -> WasmCloudHostConfig {
        serde_json::from_value(
            json!({"metadata": {"name": "hosts", "namespace": "east", "uid": "u1"},
            "spec": {"lattice": "blue", "version": "1.4.2"}}),
        )
        .expect("whc")
    }

    fn pod(name: &str) -> Arc<Pod> {
        Arc::new(
            serde_json::from_value(json!({"metadata": {"name": name, "namespace": "east"}})).expect("pod"),
        )
    }

    fn manifest(name: &str, scaler: &Value, address: &str) -> Value {
        json!({"metadata": {"name": name}, "spec": {"components": [
            {"name": "httpserver", "type": "capability", "properties": {"image": IMAGE}, "traits": [scaler,
              {"type": "link", "properties": {"namespace": "wasi", "package": "http", "interfaces": ["incoming-handler"],
               "source": {"config": [{"name": "c", "properties": {"address": address}}]}}}]}]}})
    }

    fn view(apps: &[Value], hosts: &[(&str, &str, &[&str])]) -> LatticeView {
        let mut view = LatticeView::default();
        for app in apps {
            let decision = decide(app, &patterns()).expect("an HTTP app");
            view.apps.insert(manifest_name(app), decision);
        }
        for (id, pod, serving) in hosts {
            let providers: Vec<Value> = serving
                .iter()
                .map(|app| json!({"id": format!("{app}-httpserver"), "image_ref": IMAGE, "annotations": {APP_ANNOTATION: app}}))
                .collect();
            let data = json!({"labels": {"kubernetes.pod.name": pod, "kubernetes.pod.namespace": "east"}, "providers": providers});
            view.hosts
                .insert((*id).to_string(), host_of_inventory(&data, Instant::now()));
        }
        view
    }

    fn manifest_name(manifest: &Value) -> String {
        manifest
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    }

    fn patterns() -> Vec<String> {
        vec!["ghcr.io/wasmcloud/http-server".into()]
    }

    fn endpoint_names(plan: &Plan) -> Vec<String> {
        plan.services[0]
            .endpoint_pods
            .as_ref()
            .expect("slices")
            .iter()
            .map(|p| p.name_any())
            .collect()
    }

    #[test]
    fn while_hosts_are_still_being_heard_from_listed_endpoints_stay() {
        let spread = json!({"type": "spreadscaler", "properties": {"instances": 1}});
        // Right after a start: hosts-1's host hasn't beaten yet; hosts-2's host is known and serves nothing.
        let mut view = view(
            &[manifest("shop", &spread, "0.0.0.0:8080")],
            &[("H0", "hosts-0", &["shop"]), ("H2", "hosts-2", &[])],
        );
        view.merge_hosts(BTreeMap::new());
        let owner = whc();
        let pods = [pod("hosts-0"), pod("hosts-1"), pod("hosts-2")];
        let service = plan("blue", &view, &[&owner], &pods, &Listed::new(), Instant::now()).services[0]
            .service
            .name_any();
        let listed: Listed = [(service, ["hosts-1", "hosts-2"].map(String::from).into())].into();

        let now = Instant::now();
        let settling = plan("blue", &view, &[&owner], &pods, &listed, now);
        assert_eq!(
            endpoint_names(&settling),
            ["hosts-0", "hosts-1"],
            "unheard hosts-1 keeps its endpoint"
        );

        let settled = plan(
            "blue",
            &view,
            &[&owner],
            &pods,
            &listed,
            now + crate::inventory::HOSTS_SETTLE,
        );
        assert_eq!(
            endpoint_names(&settled),
            ["hosts-0"],
            "once every host had its chance, it goes"
        );
    }

    #[test]
    fn a_spreadscaler_app_lists_exactly_the_pods_whose_hosts_run_its_provider() {
        let spread = json!({"type": "spreadscaler", "properties": {"instances": 1}});
        let view = view(
            &[manifest("shop", &spread, "0.0.0.0:8080")],
            &[
                ("H0", "hosts-0", &["shop"]),
                ("H1", "hosts-1", &[]),
                ("H2", "hosts-2", &["other"]),
            ],
        );
        let owner = whc();
        let pods = [pod("hosts-0"), pod("hosts-1"), pod("hosts-2")];
        let plan = plan("blue", &view, &[&owner], &pods, &Listed::new(), Instant::now());
        assert!(plan.problems.is_empty());
        let planned = &plan.services[0];
        let names: Vec<String> = planned
            .endpoint_pods
            .as_ref()
            .expect("slices")
            .iter()
            .map(|p| p.name_any())
            .collect();
        assert_eq!(names, ["hosts-0"]);
    }

    #[test]
    fn a_daemonscaler_app_uses_a_selector_and_bad_addresses_are_problems() {
        let daemon = json!({"type": "daemonscaler", "properties": {"instances": 1}});
        let view = view(
            &[
                manifest("shop", &daemon, "0.0.0.0:8080"),
                manifest("broken", &daemon, "nowhere"),
            ],
            &[],
        );
        let owner = whc();
        let plan = plan("blue", &view, &[&owner], &[], &Listed::new(), Instant::now());
        assert_eq!(plan.services.len(), 1);
        assert!(plan.services[0].endpoint_pods.is_none());
        assert_eq!(plan.problems.len(), 1);
        assert_eq!(
            (plan.problems[0].app.as_str(), plan.problems[0].reason),
            ("broken", INVALID_ADDRESS)
        );
    }

    #[test]
    fn two_apps_mapping_to_one_service_name_is_a_problem_not_a_fight() {
        let daemon = json!({"type": "daemonscaler", "properties": {}});
        let view = view(
            &[
                manifest("shop", &daemon, ":80"),
                manifest(&qualify::service_name("Shop_"), &daemon, ":81"),
            ],
            &[],
        );
        let mapped = qualify::service_name("Shop_");
        let mut view = view;
        let decision = decide(&manifest("Shop_", &daemon, ":82"), &patterns()).expect("an HTTP app");
        view.apps.insert("Shop_".into(), decision);
        let owner = whc();
        let plan = plan("blue", &view, &[&owner], &[], &Listed::new(), Instant::now());
        assert_eq!(plan.services.len(), 2, "{mapped}");
        assert_eq!(plan.problems[0].reason, NAME_COLLISION);
    }

    #[test]
    fn no_host_config_means_nothing_to_plan() {
        let daemon = json!({"type": "daemonscaler", "properties": {}});
        let view = view(&[manifest("shop", &daemon, ":80")], &[]);
        assert!(
            plan("blue", &view, &[], &[], &Listed::new(), Instant::now())
                .services
                .is_empty()
        );
    }
}
