//! SQL warehouses: list, get, start and stop, with STARTING → RUNNING and
//! STOPPING → STOPPED taking `transition_delay`. Transitions are applied lazily
//! whenever a warehouse is read, and persisted.

use axum::Json;
use axum::Router;
use axum::extract::{Path, State as AxState};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::error::{ApiError, ApiResult};
use crate::extract::{Params, page};
use crate::{AppState, Store};

const STORE_NAME: &str = "sql_warehouses";
const DEFAULT_PAGE_SIZE: usize = 100;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Warehouse {
    pub id: String,
    pub name: String,
    pub cluster_size: String,
    pub auto_stop_mins: i64,
    pub min_num_clusters: i64,
    pub max_num_clusters: i64,
    pub creator_name: String,
    pub warehouse_type: String,
    pub enable_serverless_compute: bool,
    pub state: String,
    /// When the current transitional state (STARTING, STOPPING) ends, in ms.
    #[serde(default)]
    pub transition_until: Option<i64>,
    pub created_at: i64,
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct State {
    #[serde(default)]
    pub warehouses: Vec<Warehouse>,
}

impl State {
    pub fn load(store: &Store) -> anyhow::Result<Self> {
        Ok(store.load(STORE_NAME)?.unwrap_or_default())
    }

    /// Finish transitions whose time has come. True when something changed.
    fn advance(&mut self, now: i64) -> bool {
        let mut changed = false;
        for w in &mut self.warehouses {
            if w.transition_until.is_some_and(|t| t <= now) {
                w.state = match w.state.as_str() {
                    "STARTING" => "RUNNING".into(),
                    "STOPPING" => "STOPPED".into(),
                    "DELETING" => "DELETED".into(),
                    other => other.into(),
                };
                w.transition_until = None;
                changed = true;
            }
        }
        changed
    }

    fn find(&mut self, id: &str) -> Option<&mut Warehouse> {
        self.warehouses.iter_mut().find(|w| w.id == id)
    }
}

fn not_found(id: &str) -> ApiError {
    ApiError::not_found(format!("SQL warehouse {id} does not exist."))
}

/// Run `f` on the warehouses after applying due transitions; persist when anything changed.
pub fn with_state<R>(state: &AppState, f: impl FnOnce(&mut State) -> (R, bool)) -> ApiResult<R> {
    let mut guard = state.sql.warehouses.lock().unwrap_or_else(|p| p.into_inner());
    let advanced = guard.advance(crate::now_ms());
    let (r, changed) = f(&mut guard);
    if advanced || changed {
        state.store.save(STORE_NAME, &*guard)?;
    }
    Ok(r)
}

/// The current state of a warehouse, or `None` when it does not exist.
pub fn current_state(state: &AppState, id: &str) -> ApiResult<Option<String>> {
    with_state(state, |s| (s.find(id).map(|w| w.state.clone()), false))
}

/// Start a warehouse (no-op when it is starting or running). Errors when it does not exist.
pub fn start(state: &AppState, id: &str) -> ApiResult<()> {
    let delay = delay_ms(state);
    with_state(state, |s| match s.find(id) {
        None => (Err(not_found(id)), false),
        Some(w) if w.state == "RUNNING" || w.state == "STARTING" => (Ok(()), false),
        Some(w) if w.state == "DELETED" || w.state == "DELETING" => {
            (Err(ApiError::invalid_state(format!("SQL warehouse {id} is deleted."))), false)
        }
        Some(w) => {
            w.state = "STARTING".into();
            w.transition_until = Some(crate::now_ms() + delay);
            (Ok(()), true)
        }
    })?
}

fn delay_ms(state: &AppState) -> i64 {
    i64::try_from(state.options.transition_delay.as_millis()).unwrap_or(i64::MAX / 2)
}

/// The EndpointInfo / GetWarehouseResponse JSON of a warehouse.
fn view(state: &AppState, w: &Warehouse) -> Value {
    let (host, port) = host_port(&state.base_url);
    let path = format!("/sql/1.0/warehouses/{}", w.id);
    let running = w.state == "RUNNING";
    let mut v = json!({
        "id": w.id,
        "name": w.name,
        "cluster_size": w.cluster_size,
        "min_num_clusters": w.min_num_clusters,
        "max_num_clusters": w.max_num_clusters,
        "auto_stop_mins": w.auto_stop_mins,
        "creator_name": w.creator_name,
        "state": w.state,
        "num_clusters": if running { 1 } else { 0 },
        "num_active_sessions": 0,
        "enable_photon": true,
        "enable_serverless_compute": w.enable_serverless_compute,
        "warehouse_type": w.warehouse_type,
        "spot_instance_policy": "COST_OPTIMIZED",
        "channel": {"name": "CHANNEL_NAME_CURRENT"},
        "tags": {"custom_tags": []},
        "odbc_params": {"hostname": host, "path": path, "protocol": "http", "port": port},
        "jdbc_url": format!("jdbc:databricks://{host}:{port}/default;transportMode=http;ssl=0;AuthMech=3;httpPath={path};"),
        "health": {"status": "HEALTHY"},
    });
    if !running && let Some(h) = v.get_mut("health") {
        *h = json!({"status": "HEALTHY", "summary": format!("The warehouse is {}.", w.state.to_ascii_lowercase())});
    }
    v
}

fn host_port(url: &str) -> (String, u16) {
    let rest = url.split_once("://").map(|(_, r)| r).unwrap_or(url);
    let authority = rest.split('/').next().unwrap_or(rest);
    match authority.rsplit_once(':') {
        Some((h, p)) => (h.to_string(), p.parse().unwrap_or(80)),
        None => (authority.to_string(), 80),
    }
}

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/2.0/sql/warehouses", get(list))
        .route("/api/2.0/sql/warehouses/{id}", get(get_one))
        .route("/api/2.0/sql/warehouses/{id}/start", post(start_one))
        .route("/api/2.0/sql/warehouses/{id}/stop", post(stop_one))
}

async fn list(AxState(state): AxState<AppState>, params: Params) -> ApiResult<Json<Value>> {
    let size = match params.int("page_size")? {
        None | Some(0) => DEFAULT_PAGE_SIZE,
        Some(n) if n < 0 => return Err(ApiError::invalid("page_size must not be negative.")),
        Some(n) => usize::try_from(n).unwrap_or(DEFAULT_PAGE_SIZE).min(1000),
    };
    let all = with_state(&state, |s| (s.warehouses.clone(), false))?;
    let views: Vec<Value> = all.iter().map(|w| view(&state, w)).collect();
    let (items, next) = page(&views, params.get("page_token"), size)?;
    let mut body = json!({ "warehouses": items });
    if let Some(token) = next {
        body["next_page_token"] = json!(token);
    }
    Ok(Json(body))
}

async fn get_one(AxState(state): AxState<AppState>, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let w = with_state(&state, |s| (s.find(&id).cloned(), false))?.ok_or_else(|| not_found(&id))?;
    Ok(Json(view(&state, &w)))
}

async fn start_one(AxState(state): AxState<AppState>, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    start(&state, &id)?;
    Ok(Json(json!({})))
}

async fn stop_one(AxState(state): AxState<AppState>, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let delay = delay_ms(&state);
    let stopped = with_state(&state, |s| match s.find(&id) {
        None => (Err(not_found(&id)), false),
        Some(w) if w.state == "STOPPED" || w.state == "STOPPING" => (Ok(false), false),
        Some(w) if w.state == "DELETED" || w.state == "DELETING" => {
            (Err(ApiError::invalid_state(format!("SQL warehouse {id} is deleted."))), false)
        }
        Some(w) => {
            w.state = "STOPPING".into();
            w.transition_until = Some(crate::now_ms() + delay);
            (Ok(true), true)
        }
    })??;
    if stopped {
        // Stopping a warehouse cancels the statements running on it.
        super::statements::cancel_on_warehouse(&state, &id);
    }
    Ok(Json(json!({})))
}

/// Create one running warehouse when the workspace has none.
pub fn seed(state: &AppState) -> anyhow::Result<()> {
    let created = with_state(state, |s| {
        if !s.warehouses.is_empty() {
            return (false, false);
        }
        s.warehouses.push(Warehouse {
            id: new_id(),
            name: "Sandbox Serverless Warehouse".into(),
            cluster_size: "2X-Small".into(),
            auto_stop_mins: 0,
            min_num_clusters: 1,
            max_num_clusters: 1,
            creator_name: crate::identity::USER_NAME.into(),
            warehouse_type: "PRO".into(),
            enable_serverless_compute: true,
            state: "RUNNING".into(),
            transition_until: None,
            created_at: crate::now_ms(),
        });
        (true, true)
    })
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    if created {
        tracing::debug!("seeded a SQL warehouse");
    }
    Ok(())
}

/// A warehouse id: 16 lower-case hex digits, as Databricks uses.
fn new_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..16].to_string()
}
