//! The HTTP face of the simulated cluster: Kubernetes REST paths, lists with
//! selectors and pagination, watches, writes and `Status` errors.
//!
//! One fallback handler parses the path the way the API server's router does,
//! because Kubernetes paths (`/api/v1/namespaces/{ns}/pods/{name}`,
//! `/apis/{group}/{version}/{plural}`) are regular but too many to list as
//! routes one by one.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::Response;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use futures_util::stream;
use serde_json::{Value, json};
use tokio::sync::broadcast;

use super::Sim;
use super::audit::ApiCall;
use super::etcd::{EtcdError, Event, Stored, labels_of};
use super::faults::{FaultCode, Target, Verdict, WatchCut};
use super::resources::{self, METRICS_GROUP, NODE_METRICS, POD_METRICS, Resource};
use super::selector::{
    FIELD_NAME, FIELD_NAMESPACE, FIELD_NODE_NAME, FIELD_PHASE, FieldSelector, LabelSelector,
};

/// How long a watch lasts when the client does not say (real servers pick 30–60 min).
const DEFAULT_WATCH_SECONDS: u64 = 1800;
/// How often a watch that asked for bookmarks gets one.
const BOOKMARK_INTERVAL: Duration = Duration::from_secs(5);

/// What a request path names.
#[derive(Debug, PartialEq)]
enum Route {
    Version,
    Health,
    CoreVersions,
    Groups,
    Group(String),
    Resources(String, String),
    OpenApiIndex,
    OpenApi(String),
    Collection(Resource, Option<String>),
    Object(Resource, Option<String>, String),
    Unknown,
}

fn route(path: &str) -> Route {
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    match parts.as_slice() {
        ["version"] => Route::Version,
        ["healthz" | "readyz" | "livez", ..] => Route::Health,
        ["api"] => Route::CoreVersions,
        ["api", version] => Route::Resources(String::new(), (*version).to_owned()),
        ["api", version, rest @ ..] => resource_route("", version, rest),
        ["openapi", "v3"] => Route::OpenApiIndex,
        ["openapi", "v3", rest @ ..] => Route::OpenApi(rest.join("/")),
        ["apis"] => Route::Groups,
        ["apis", group] => Route::Group((*group).to_owned()),
        ["apis", group, version] => Route::Resources((*group).to_owned(), (*version).to_owned()),
        ["apis", group, version, rest @ ..] => resource_route(group, version, rest),
        _ => Route::Unknown,
    }
}

fn resource_route(group: &str, version: &str, rest: &[&str]) -> Route {
    let (namespace, plural, name) = match rest {
        ["namespaces", namespace, plural, tail @ ..] => {
            (Some((*namespace).to_owned()), *plural, tail.first())
        }
        [plural, tail @ ..] => (None, *plural, tail.first()),
        [] => return Route::Unknown,
    };
    let Some(resource) = resources::find(group, version, plural) else {
        return Route::Unknown;
    };
    if namespace.is_some() && !resource.namespaced {
        return Route::Unknown;
    }
    match name {
        Some(name) => Route::Object(resource, namespace, (*name).to_owned()),
        None => Route::Collection(resource, namespace),
    }
}

/// Query parameters of list and watch requests.
#[derive(Debug, Default)]
struct Query {
    label_selector: String,
    field_selector: String,
    limit: Option<usize>,
    continue_token: String,
    resource_version: String,
    watch: bool,
    timeout_seconds: Option<u64>,
    allow_bookmarks: bool,
    send_initial_events: bool,
}

fn parse_query(uri: &Uri) -> Result<Query, Rejection> {
    let mut query = Query::default();
    for (key, value) in url_pairs(uri.query().unwrap_or("")) {
        let truthy = value == "true" || value == "1";
        match key.as_str() {
            "labelSelector" => query.label_selector = value,
            "fieldSelector" => query.field_selector = value,
            "continue" => query.continue_token = value,
            "resourceVersion" => query.resource_version = value,
            "watch" => query.watch = truthy,
            "allowWatchBookmarks" => query.allow_bookmarks = truthy,
            "sendInitialEvents" => query.send_initial_events = truthy,
            "limit" => {
                query.limit = Some(
                    value
                        .parse()
                        .map_err(|_| Rejection::bad(&format!("limit {value:?} is not a number")))?,
                )
            }
            "timeoutSeconds" => {
                query.timeout_seconds = Some(value.parse().map_err(|_| {
                    Rejection::bad(&format!("timeoutSeconds {value:?} is not a number"))
                })?)
            }
            _ => {}
        }
    }
    Ok(query)
}

fn url_pairs(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(key), percent_decode(value))
        })
        .collect()
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                match u8::from_str_radix(
                    std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("zz"),
                    16,
                ) {
                    Ok(byte) => {
                        out.push(byte);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            byte => out.push(byte),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The single handler of every request: injects the faults in force
/// (`--faults`), then answers.
pub async fn handle(
    State(sim): State<Arc<Sim>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let route = route(uri.path());
    sim.audit.record(audit_call(&route, &method, &uri));
    let mut cut = None;
    if let Some(target) = fault_target(&route, &method, &uri) {
        let ticket = sim.faults.admit();
        if let Some(delay) = sim.faults.delay(ticket) {
            tokio::time::sleep(delay).await;
        }
        match sim.faults.verdict(ticket, target, sim.clock.now()) {
            Verdict::Serve { cut: watch_cut } => cut = watch_cut,
            Verdict::Fail(code) => return fault_response(code),
            Verdict::Gone { requested } => {
                return expired_watch(&EtcdError::Expired {
                    requested,
                    oldest: sim.store.resource_version(),
                });
            }
        }
    }
    // The fast clock moves when a collector asks for every pod's usage.
    if method == Method::GET
        && let Route::Collection(resource, None) = &route
        && *resource == POD_METRICS
        && let Err(error) = sim.step().await
    {
        return store_error(error);
    }
    // The cluster is exactly as of now on the simulated clock, whatever the
    // background driver has applied so far.
    if let Err(error) = sim.catch_up() {
        return store_error(error);
    }
    answer(&sim, route, method, uri, headers, body, cut)
}

/// The request as RBAC sees it.
fn audit_call(route: &Route, method: &Method, uri: &Uri) -> ApiCall {
    let (resource, namespace, name) = match route {
        Route::Collection(resource, namespace) => (resource, namespace, None),
        Route::Object(resource, namespace, name) => (resource, namespace, Some(name.clone())),
        _ => {
            return ApiCall::NonResource {
                path: uri.path().to_owned(),
            };
        }
    };
    let watch = parse_query(uri).is_ok_and(|q| q.watch);
    let verb = match (method, name.is_some()) {
        (&Method::GET, false) if watch => "watch",
        (&Method::GET, false) => "list",
        (&Method::GET, true) => "get",
        (&Method::POST, _) => "create",
        (&Method::PUT, _) => "update",
        (&Method::PATCH, _) => "patch",
        (&Method::DELETE, false) => "deletecollection",
        (&Method::DELETE, true) => "delete",
        _ => "unknown",
    };
    ApiCall::Resource {
        verb,
        group: resource.group.to_owned(),
        resource: resource.plural.to_owned(),
        namespace: namespace.clone(),
        name,
    }
}

/// Which fault rules apply to a request; `None` for discovery, version,
/// OpenAPI and health, which stay up so clients can always discover.
fn fault_target(route: &Route, method: &Method, uri: &Uri) -> Option<Target> {
    let resource = match route {
        Route::Collection(resource, _) | Route::Object(resource, ..) => resource,
        _ => return None,
    };
    if resource.group == METRICS_GROUP {
        return Some(Target::Metrics);
    }
    match (route, method) {
        (Route::Collection(..), &Method::GET) => match parse_query(uri) {
            Ok(query) if query.watch => Some(Target::Watch {
                from_version: query.resource_version.parse().ok().filter(|v| *v != 0),
            }),
            _ => Some(Target::List),
        },
        (Route::Object(..), &Method::GET) => Some(Target::Get),
        (_, &Method::POST | &Method::PUT | &Method::PATCH | &Method::DELETE) => Some(Target::Write),
        _ => None,
    }
}

/// An injected error, worded and headed as the real server sends it: 429 and
/// 503 say when to retry, in `Retry-After` and in the Status details.
fn fault_response(code: FaultCode) -> Response {
    let status = match code {
        FaultCode::InternalError => StatusCode::INTERNAL_SERVER_ERROR,
        FaultCode::ServiceUnavailable => StatusCode::SERVICE_UNAVAILABLE,
        FaultCode::TooManyRequests => StatusCode::TOO_MANY_REQUESTS,
    };
    let mut value = status_json(code.reason(), code.message(), status.as_u16(), None);
    if let Some(seconds) = code.retry_after_seconds() {
        value["details"] = json!({"retryAfterSeconds": seconds});
    }
    let mut response = json_response(status, &value);
    if let Some(seconds) = code.retry_after_seconds() {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    }
    response
}

/// Answers a request the faults let through; `cut` aborts a watch stream.
fn answer(
    sim: &Sim,
    route: Route,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
    cut: Option<WatchCut>,
) -> Response {
    match (route, &method) {
        (Route::Version, &Method::GET) => json_response(StatusCode::OK, &resources::version()),
        (Route::Health, &Method::GET) => text_response(StatusCode::OK, "ok"),
        (Route::CoreVersions, &Method::GET) => {
            json_response(StatusCode::OK, &resources::core_versions())
        }
        (Route::Groups, &Method::GET) => json_response(StatusCode::OK, &resources::group_list()),
        (Route::Group(group), &Method::GET) => match resources::group(&group) {
            Some(value) => json_response(StatusCode::OK, &value),
            None => not_found_path(uri.path()),
        },
        (Route::Resources(group, version), &Method::GET) => {
            match resources::resource_list(&group, &version) {
                Some(value) => json_response(StatusCode::OK, &value),
                None => not_found_path(uri.path()),
            }
        }
        (Route::OpenApiIndex, &Method::GET) => {
            json_response(StatusCode::OK, &resources::openapi_index())
        }
        (Route::OpenApi(path), &Method::GET) => match resources::openapi_document(&path) {
            Some(value) => json_response(StatusCode::OK, &value),
            None => not_found_path(uri.path()),
        },
        (Route::Collection(resource, namespace), &Method::GET) => {
            let query = match parse_query(&uri) {
                Ok(query) => query,
                Err(rejection) => return rejection.response(),
            };
            if resource.group == METRICS_GROUP {
                return metrics_list(sim, resource, namespace.as_deref(), &query);
            }
            if query.watch {
                watch(sim, resource, namespace, &query, cut)
            } else {
                list(sim, resource, namespace.as_deref(), &query)
            }
        }
        (Route::Object(resource, namespace, name), &Method::GET) => {
            if resource.group == METRICS_GROUP {
                return metrics_get(sim, resource, namespace.as_deref(), &name);
            }
            stored_response(
                sim.store
                    .get(resource, namespace.as_deref().unwrap_or(""), &name),
                StatusCode::OK,
            )
        }
        (Route::Collection(resource, namespace), &Method::POST) if resource.writable => {
            let mut value = match parse_body(&body) {
                Ok(value) => value,
                Err(rejection) => return rejection.response(),
            };
            if let Some(namespace) = namespace {
                value["metadata"]["namespace"] = json!(namespace);
            }
            value["metadata"]["creationTimestamp"] = json!(
                sim.clock
                    .now()
                    .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            );
            stored_response(sim.store.create(resource, value), StatusCode::CREATED)
        }
        (Route::Object(resource, namespace, name), &Method::PUT) if resource.writable => {
            let mut value = match parse_body(&body) {
                Ok(value) => value,
                Err(rejection) => return rejection.response(),
            };
            if value["metadata"]["name"].as_str() != Some(name.as_str()) {
                return status_response(
                    StatusCode::BAD_REQUEST,
                    "BadRequest",
                    "the name of the object does not match the name in the URL",
                    None,
                );
            }
            if let Some(namespace) = namespace {
                value["metadata"]["namespace"] = json!(namespace);
            }
            stored_response(sim.store.update(resource, value), StatusCode::OK)
        }
        (Route::Object(resource, namespace, name), &Method::PATCH) if resource.writable => patch(
            sim,
            resource,
            namespace.as_deref().unwrap_or(""),
            &name,
            &headers_content_type(&headers),
            &body,
        ),
        (Route::Object(resource, namespace, name), &Method::DELETE) if resource.writable => {
            stored_response(
                sim.store
                    .delete(resource, namespace.as_deref().unwrap_or(""), &name),
                StatusCode::OK,
            )
        }
        (Route::Collection(..) | Route::Object(..), _) => status_response(
            StatusCode::METHOD_NOT_ALLOWED,
            "MethodNotAllowed",
            &format!("the server does not allow this method on the requested resource: {method}"),
            None,
        ),
        _ => not_found_path(uri.path()),
    }
}

fn headers_content_type(headers: &HeaderMap) -> String {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned()
}

fn parse_body(body: &Bytes) -> Result<Value, Rejection> {
    serde_json::from_slice(body)
        .map_err(|error| Rejection::bad(&format!("the request body is not valid JSON: {error}")))
}

/// JSON merge patch (RFC 7386); strategic merge patch behaves the same on the
/// writable kinds (leases have no merge-keyed lists).
fn patch(
    sim: &Sim,
    resource: Resource,
    namespace: &str,
    name: &str,
    content_type: &str,
    body: &Bytes,
) -> Response {
    if !(content_type.starts_with("application/merge-patch+json")
        || content_type.starts_with("application/strategic-merge-patch+json")
        || content_type.starts_with("application/apply-patch"))
    {
        return status_response(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UnsupportedMediaType",
            &format!(
                "the body of the request was in an unknown format - accepted media types include: application/merge-patch+json, application/strategic-merge-patch+json (got {content_type:?})"
            ),
            None,
        );
    }
    let patch = match parse_body(body) {
        Ok(patch) => patch,
        Err(rejection) => return rejection.response(),
    };
    let current = match sim.store.get(resource, namespace, name) {
        Ok(current) => current,
        Err(error) => return store_error(error),
    };
    let mut value = current.value();
    merge(&mut value, &patch);
    if patch["metadata"]["resourceVersion"].is_null() {
        value["metadata"]["resourceVersion"] = Value::Null;
    }
    stored_response(sim.store.update(resource, value), StatusCode::OK)
}

fn merge(target: &mut Value, patch: &Value) {
    match (target, patch) {
        (Value::Object(target), Value::Object(patch)) => {
            for (key, value) in patch {
                if value.is_null() {
                    target.remove(key);
                } else {
                    merge(target.entry(key.clone()).or_insert(Value::Null), value);
                }
            }
        }
        (target, patch) => *target = patch.clone(),
    }
}

fn supported_fields(resource: Resource) -> Vec<&'static str> {
    if resource == resources::PODS {
        vec![FIELD_NAME, FIELD_NAMESPACE, FIELD_NODE_NAME, FIELD_PHASE]
    } else {
        vec![FIELD_NAME, FIELD_NAMESPACE]
    }
}

fn selectors(
    resource: Resource,
    query: &Query,
) -> Result<(LabelSelector, FieldSelector), Rejection> {
    let labels = LabelSelector::parse(&query.label_selector)
        .map_err(|error| Rejection::bad(&error.to_string()))?;
    let fields = FieldSelector::parse(&query.field_selector, &supported_fields(resource))
        .map_err(|error| Rejection::bad(&format!("{error} for {}", resource.kind)))?;
    Ok((labels, fields))
}

/// Continue tokens carry the list's version and the last key, like the real
/// server's (base64 JSON); a token older than the event log has expired.
/// Unlike etcd, later pages read the current state after that key, not a
/// snapshot at the first page's version: objects changed between pages show
/// their newer state.
fn encode_continue(resource_version: u64, key: &(String, String)) -> String {
    URL_SAFE_NO_PAD.encode(json!({"rv": resource_version, "ns": key.0, "name": key.1}).to_string())
}

fn decode_continue(token: &str) -> Option<(u64, (String, String))> {
    let bytes = URL_SAFE_NO_PAD.decode(token).ok()?;
    let value: Value = serde_json::from_slice(&bytes).ok()?;
    Some((
        value["rv"].as_u64()?,
        (
            value["ns"].as_str()?.to_owned(),
            value["name"].as_str()?.to_owned(),
        ),
    ))
}

fn list(sim: &Sim, resource: Resource, namespace: Option<&str>, query: &Query) -> Response {
    let (labels, fields) = match selectors(resource, query) {
        Ok(selectors) => selectors,
        Err(rejection) => return rejection.response(),
    };
    let (list_version, after) = if query.continue_token.is_empty() {
        (None, None)
    } else {
        match decode_continue(&query.continue_token) {
            Some((version, key)) => (Some(version), Some(key)),
            None => return bad_request("continue key is not valid"),
        }
    };
    if let Some(version) = list_version
        && sim.store.is_compacted(version)
    {
        return status_response(
            StatusCode::GONE,
            "Expired",
            "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.",
            None,
        );
    }
    let page = sim.store.list(
        resource,
        namespace,
        &labels,
        &fields,
        query.limit,
        after.as_ref(),
    );
    let version = list_version.unwrap_or(page.resource_version);
    let mut metadata = json!({"resourceVersion": version.to_string()});
    if let Some(next) = &page.next {
        metadata["continue"] = json!(encode_continue(version, next));
    }
    if let Some(remaining) = page.remaining {
        metadata["remainingItemCount"] = json!(remaining);
    }
    let items: Vec<&str> = page.items.iter().map(|item| &*item.json).collect();
    list_response(resource, &metadata, &items)
}

fn list_response(resource: Resource, metadata: &Value, items: &[&str]) -> Response {
    let mut body = String::with_capacity(items.iter().map(|i| i.len() + 1).sum::<usize>() + 200);
    body.push_str(&format!(
        "{{\"kind\":\"{}List\",\"apiVersion\":\"{}\",\"metadata\":{},\"items\":[",
        resource.kind,
        resource.api_version(),
        metadata
    ));
    for (index, item) in items.iter().enumerate() {
        if index > 0 {
            body.push(',');
        }
        body.push_str(item);
    }
    body.push_str("]}");
    let mut response = Response::new(Body::from(body));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

fn metrics_objects(
    sim: &Sim,
    resource: Resource,
    namespace: Option<&str>,
) -> Vec<(String, String, Value)> {
    let model = sim
        .model
        .read()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if resource == POD_METRICS {
        super::metrics::pod_metrics(&model, sim.seed, &sim.clock, namespace)
    } else {
        super::metrics::node_metrics(&model, sim.seed, &sim.clock)
    }
}

fn metrics_list(sim: &Sim, resource: Resource, namespace: Option<&str>, query: &Query) -> Response {
    if query.watch {
        return status_response(
            StatusCode::METHOD_NOT_ALLOWED,
            "MethodNotAllowed",
            "metrics.k8s.io does not support watch",
            None,
        );
    }
    let (labels, fields) = match selectors(resource, query) {
        Ok(selectors) => selectors,
        Err(rejection) => return rejection.response(),
    };
    let objects = metrics_objects(sim, resource, namespace);
    let items: Vec<String> = objects
        .iter()
        .filter(|(ns, name, value)| {
            let object_labels = labels_of(value);
            labels.matches(&object_labels)
                && fields.matches(|field| match field {
                    FIELD_NAME => name.clone(),
                    FIELD_NAMESPACE => ns.clone(),
                    _ => String::new(),
                })
        })
        .map(|(_, _, value)| value.to_string())
        .collect();
    let borrowed: Vec<&str> = items.iter().map(String::as_str).collect();
    let metadata = json!({"resourceVersion": ""});
    list_response(resource, &metadata, &borrowed)
}

fn metrics_get(sim: &Sim, resource: Resource, namespace: Option<&str>, name: &str) -> Response {
    metrics_objects(sim, resource, namespace)
        .into_iter()
        .find(|(_, object_name, _)| object_name == name)
        .map(|(_, _, value)| json_response(StatusCode::OK, &value))
        .unwrap_or_else(|| {
            let plural = if resource == NODE_METRICS {
                "nodes.metrics.k8s.io"
            } else {
                "pods.metrics.k8s.io"
            };
            status_response(
                StatusCode::NOT_FOUND,
                "NotFound",
                &format!("{plural} \"{name}\" not found"),
                Some((name, resource.plural)),
            )
        })
}

/// How far each open watch stream has handed its events to hyper: the fast
/// clock waits on it so that a tick's changes are on their way to every
/// watcher before the tick's usage is served.
#[derive(Debug, Default)]
pub struct Deliveries {
    streams: std::sync::Mutex<Vec<std::sync::Weak<AtomicU64>>>,
    /// Woken whenever a stream has handed everything over.
    progressed: tokio::sync::Notify,
}

impl Deliveries {
    /// A new stream's counter, at `version`.
    fn register(&self, version: u64) -> Arc<AtomicU64> {
        let delivered = Arc::new(AtomicU64::new(version));
        let mut streams = match self.streams.lock() {
            Ok(streams) => streams,
            Err(poisoned) => poisoned.into_inner(),
        };
        streams.retain(|stream| stream.strong_count() > 0);
        streams.push(Arc::downgrade(&delivered));
        delivered
    }

    /// Whether every open stream has handed over everything up to `version`.
    fn caught_up(&self, version: u64) -> bool {
        let streams = match self.streams.lock() {
            Ok(streams) => streams,
            Err(poisoned) => poisoned.into_inner(),
        };
        streams
            .iter()
            .filter_map(std::sync::Weak::upgrade)
            .all(|delivered| delivered.load(Ordering::Acquire) >= version)
    }

    /// A stream has handed everything up to `version` to its connection.
    fn delivered(&self, stream: &AtomicU64, version: u64) {
        if stream.swap(version, Ordering::AcqRel) != version {
            self.progressed.notify_waiters();
        }
    }

    /// Waits until [`Self::caught_up`] to `version`, or `limit` (a client
    /// that stopped reading its watch must not stop the clock).
    pub async fn wait_for(&self, version: u64, limit: Duration) {
        let give_up = tokio::time::Instant::now() + limit;
        loop {
            // Registered before the check, so a delivery in between wakes it.
            let progressed = self.progressed.notified();
            tokio::pin!(progressed);
            progressed.as_mut().enable();
            if self.caught_up(version) {
                return;
            }
            if tokio::time::timeout_at(give_up, progressed).await.is_err() {
                return;
            }
        }
    }
}

/// The state of one watch stream.
struct Watch {
    resource: Resource,
    namespace: Option<String>,
    labels: LabelSelector,
    fields: FieldSelector,
    pending: VecDeque<Bytes>,
    receiver: broadcast::Receiver<Arc<Event>>,
    deadline: tokio::time::Instant,
    bookmarks: Option<tokio::time::Interval>,
    seen_version: u64,
    /// When an injected fault aborts the stream (`--faults cut=…`).
    cut: Option<(tokio::time::Instant, WatchCut)>,
    /// The version up to which everything has been handed to the connection.
    delivered: Arc<AtomicU64>,
    deliveries: Arc<Deliveries>,
}

impl Watch {
    fn selects(&self, object: &Stored) -> bool {
        self.namespace
            .as_ref()
            .is_none_or(|ns| &object.namespace == ns)
            && object.matches(&self.labels, &self.fields)
    }

    fn bookmark(&self, initial_end: bool) -> Bytes {
        let mut metadata = json!({"resourceVersion": self.seen_version.to_string()});
        if initial_end {
            metadata["annotations"] = json!({"k8s.io/initial-events-end": "true"});
        }
        let object = json!({"kind": self.resource.kind, "apiVersion": self.resource.api_version(), "metadata": metadata});
        Bytes::from(format!("{{\"type\":\"BOOKMARK\",\"object\":{object}}}\n"))
    }
}

fn event_line(kind: &str, json: &str) -> Bytes {
    Bytes::from(format!("{{\"type\":\"{kind}\",\"object\":{json}}}\n"))
}

fn watch(
    sim: &Sim,
    resource: Resource,
    namespace: Option<String>,
    query: &Query,
    cut: Option<WatchCut>,
) -> Response {
    let (labels, fields) = match selectors(resource, query) {
        Ok(selectors) => selectors,
        Err(rejection) => return rejection.response(),
    };
    let from_now = matches!(query.resource_version.as_str(), "" | "0");
    let since = if from_now {
        sim.store.resource_version()
    } else {
        match query.resource_version.parse::<u64>() {
            Ok(version) => version,
            Err(_) => {
                return bad_request(&format!(
                    "resourceVersion {:?} is not valid",
                    query.resource_version
                ));
            }
        }
    };
    let (backlog, receiver) = match sim.store.watch_from(resource, since) {
        Ok(found) => found,
        Err(error @ EtcdError::Expired { .. }) => return expired_watch(&error),
        Err(error) => return store_error(error),
    };
    let timeout = query.timeout_seconds.unwrap_or(DEFAULT_WATCH_SECONDS);
    let started = tokio::time::Instant::now();
    let mut state = Watch {
        resource,
        namespace: namespace.clone(),
        labels,
        fields,
        pending: VecDeque::new(),
        receiver,
        deadline: started + Duration::from_secs(timeout),
        bookmarks: query
            .allow_bookmarks
            .then(|| tokio::time::interval(BOOKMARK_INTERVAL)),
        seen_version: since,
        cut: cut.map(|cut| (started + cut.after, cut)),
        delivered: sim.deliveries.register(since),
        deliveries: sim.deliveries.clone(),
    };
    if from_now {
        // A watch from "" or "0" starts with the current state as ADDED
        // events ("Get State and Start at Most Recent" / "Start at Any").
        let page = sim.store.list(
            resource,
            namespace.as_deref(),
            &state.labels,
            &state.fields,
            None,
            None,
        );
        for item in &page.items {
            state.pending.push_back(event_line("ADDED", &item.json));
        }
        state.seen_version = page.resource_version;
        if query.send_initial_events && query.allow_bookmarks {
            let bookmark = state.bookmark(true);
            state.pending.push_back(bookmark);
        }
    }
    for event in backlog {
        // Changes the initial ADDED events already include are not replayed.
        if event.object.resource_version <= state.seen_version {
            continue;
        }
        if state.selects(&event.object) {
            state
                .pending
                .push_back(event_line(event.kind.as_str(), &event.object.json));
        }
        state.seen_version = state.seen_version.max(event.object.resource_version);
    }
    let body = stream::unfold(Some(state), |state| async move {
        let mut state = state?;
        loop {
            let cut_at = state.cut.as_ref().map(|(at, _)| *at);
            if cut_at.is_some_and(|at| tokio::time::Instant::now() >= at) {
                return Some((Err(cut_stream(&state)), None));
            }
            if let Some(line) = state.pending.pop_front() {
                return Some((Ok(line), Some(state)));
            }
            // Every line up to `seen_version` went out before this poll.
            state
                .deliveries
                .delivered(&state.delivered, state.seen_version);
            let bookmark_tick = async {
                match state.bookmarks.as_mut() {
                    Some(interval) => {
                        interval.tick().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                received = state.receiver.recv() => match received {
                    Ok(event) => {
                        if event.object.resource_version <= state.seen_version {
                            continue;
                        }
                        state.seen_version = event.object.resource_version;
                        if event.resource == state.resource && state.selects(&event.object) {
                            state.pending.push_back(event_line(event.kind.as_str(), &event.object.json));
                        }
                    }
                    // Too slow to keep up, or the server is stopping: end the
                    // stream; the client re-watches from its last version.
                    Err(_) => return None,
                },
                _ = tokio::time::sleep_until(state.deadline) => return None,
                _ = sleep_until_some(cut_at) => return Some((Err(cut_stream(&state)), None)),
                _ = bookmark_tick => {
                    let bookmark = state.bookmark(false);
                    state.pending.push_back(bookmark);
                }
            }
        }
    });
    stream_response(Body::from_stream(body))
}

/// Counts an injected cut and returns the error that makes hyper abort the
/// connection mid-stream, as a crashing or restarting server does; a clean end
/// (at `timeoutSeconds`) would not exercise the client's error path.
fn cut_stream(state: &Watch) -> std::io::Error {
    if let Some((_, cut)) = &state.cut {
        cut.record();
    }
    std::io::Error::other("watch cut by an injected fault (--faults cut=...)")
}

async fn sleep_until_some(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// A watch from a compacted version: a real server answers 200 and reports
/// the 410 Expired as an `ERROR` event in the stream.
fn expired_watch(error: &EtcdError) -> Response {
    let status = status_json("Expired", &error.to_string(), 410, None);
    stream_response(Body::from(format!(
        "{{\"type\":\"ERROR\",\"object\":{status}}}\n"
    )))
}

fn stream_response(body: Body) -> Response {
    let mut response = Response::new(body);
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

fn stored_response(result: Result<Arc<Stored>, EtcdError>, status: StatusCode) -> Response {
    match result {
        Ok(stored) => {
            let mut response = Response::new(Body::from(stored.json.to_string()));
            *response.status_mut() = status;
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            response
        }
        Err(error) => store_error(error),
    }
}

fn store_error(error: EtcdError) -> Response {
    let message = error.to_string();
    match error {
        EtcdError::NotFound { plural, name } => status_response(
            StatusCode::NOT_FOUND,
            "NotFound",
            &message,
            Some((&name, plural)),
        ),
        EtcdError::AlreadyExists { plural, name } => status_response(
            StatusCode::CONFLICT,
            "AlreadyExists",
            &message,
            Some((&name, plural)),
        ),
        EtcdError::Conflict { plural, name } => status_response(
            StatusCode::CONFLICT,
            "Conflict",
            &message,
            Some((&name, plural)),
        ),
        EtcdError::Expired { .. } => status_response(StatusCode::GONE, "Expired", &message, None),
        EtcdError::Invalid(_) => {
            status_response(StatusCode::UNPROCESSABLE_ENTITY, "Invalid", &message, None)
        }
    }
}

fn status_json(reason: &str, message: &str, code: u16, details: Option<(&str, &str)>) -> Value {
    let mut status = json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {},
        "status": "Failure", "message": message, "reason": reason, "code": code
    });
    if let Some((name, kind)) = details {
        status["details"] = json!({"name": name, "kind": kind});
    }
    status
}

/// A Kubernetes `Status` error response.
pub fn status_response(
    code: StatusCode,
    reason: &str,
    message: &str,
    details: Option<(&str, &str)>,
) -> Response {
    let mut response = json_response(code, &status_json(reason, message, code.as_u16(), details));
    *response.status_mut() = code;
    response
}

/// A request refused before any work: answered with a 400 `Status`.
struct Rejection(String);

impl Rejection {
    fn bad(message: &str) -> Rejection {
        Rejection(message.to_owned())
    }

    fn response(self) -> Response {
        bad_request(&self.0)
    }
}

fn bad_request(message: &str) -> Response {
    status_response(StatusCode::BAD_REQUEST, "BadRequest", message, None)
}

fn not_found_path(path: &str) -> Response {
    status_response(
        StatusCode::NOT_FOUND,
        "NotFound",
        &format!("the server could not find the requested resource ({path})"),
        None,
    )
}

fn json_response(status: StatusCode, value: &Value) -> Response {
    let mut response = Response::new(Body::from(value.to_string()));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

fn text_response(status: StatusCode, text: &'static str) -> Response {
    let mut response = Response::new(Body::from(text));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_kubernetes_paths() {
        assert_eq!(
            route("/api/v1/pods"),
            Route::Collection(resources::PODS, None)
        );
        assert_eq!(
            route("/api/v1/namespaces/acme/pods/web-1"),
            Route::Object(resources::PODS, Some("acme".into()), "web-1".into())
        );
        assert_eq!(
            route("/api/v1/namespaces/acme"),
            Route::Object(resources::NAMESPACES, None, "acme".into())
        );
        assert_eq!(
            route("/api/v1/namespaces"),
            Route::Collection(resources::NAMESPACES, None)
        );
        assert_eq!(
            route("/apis/coordination.k8s.io/v1/namespaces/kt/leases"),
            Route::Collection(resources::LEASES, Some("kt".into()))
        );
        assert_eq!(
            route("/apis/metrics.k8s.io/v1beta1/nodes"),
            Route::Collection(NODE_METRICS, None)
        );
        assert_eq!(
            route("/apis/apps/v1"),
            Route::Resources("apps".into(), "v1".into())
        );
        assert_eq!(route("/api/v1/namespaces/x/nodes"), Route::Unknown);
        // PersistentVolumes and StorageClasses are cluster-scoped.
        assert_eq!(
            route("/api/v1/namespaces/x/persistentvolumes"),
            Route::Unknown
        );
        assert_eq!(route("/apis/apps/v1/widgets"), Route::Unknown);
    }

    #[test]
    fn query_strings_decode_and_bad_numbers_are_refused() {
        let uri: Uri = "/api/v1/pods?&labelSelector=app%3Dweb%2Cenv+in+(a)&limit=5&watch=1"
            .parse()
            .unwrap_or_default();
        let query = parse_query(&uri).unwrap_or_default();
        assert_eq!(query.label_selector, "app=web,env in (a)");
        assert_eq!((query.limit, query.watch), (Some(5), true));
        let bad: Uri = "/api/v1/pods?limit=five".parse().unwrap_or_default();
        assert!(parse_query(&bad).is_err());
    }

    #[test]
    fn continue_tokens_round_trip() {
        let key = ("acme".to_owned(), "web-1".to_owned());
        assert_eq!(decode_continue(&encode_continue(42, &key)), Some((42, key)));
        assert_eq!(decode_continue("not-a-token"), None);
    }

    #[test]
    fn merge_patch_replaces_and_removes_fields() {
        let mut value = json!({"spec": {"holderIdentity": "a", "leaseDurationSeconds": 15}});
        merge(
            &mut value,
            &json!({"spec": {"holderIdentity": "b", "leaseDurationSeconds": null}}),
        );
        assert_eq!(value, json!({"spec": {"holderIdentity": "b"}}));
    }

    #[test]
    fn the_audit_names_the_storage_and_service_calls_as_rbac_does() {
        let call = |path: &str| {
            let uri: Uri = path.parse().unwrap();
            audit_call(&route(uri.path()), &Method::GET, &uri)
        };
        let resource =
            |verb, group: &str, resource: &str, namespace: Option<&str>| ApiCall::Resource {
                verb,
                group: group.into(),
                resource: resource.into(),
                namespace: namespace.map(str::to_owned),
                name: None,
            };
        assert_eq!(
            call("/api/v1/persistentvolumeclaims?watch=true"),
            resource("watch", "", "persistentvolumeclaims", None)
        );
        assert_eq!(
            call("/api/v1/persistentvolumes"),
            resource("list", "", "persistentvolumes", None)
        );
        assert_eq!(
            call("/apis/storage.k8s.io/v1/storageclasses"),
            resource("list", "storage.k8s.io", "storageclasses", None)
        );
        assert_eq!(
            call("/api/v1/namespaces/acme/services?watch=1"),
            resource("watch", "", "services", Some("acme"))
        );
    }
}
