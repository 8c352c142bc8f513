//! The protocol side: the tools, resources and prompts wired into rmcp's
//! server, and the two transports (stdio, streamable HTTP over axum).
//!
//! Every tool call runs the same way ([`Server::call`]): one at a time (a
//! semaphore: a cost query uses every core polars has, and two at once only
//! race for them), on a blocking thread, abandoned after the time limit, and
//! any failure, a panic included, turned into an `isError` result whose text
//! is `{"error": {"kind", "message"}}`. polars cannot be interrupted, so an
//! abandoned call finishes in the background still holding the semaphore:
//! later calls wait for it, within their own time limit, rather than pile up.

use std::net::SocketAddr;
use std::sync::Arc;

use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::wrapper::{Json, Parameters};
use rmcp::model::{
    CallToolResult, ContentBlock, GetPromptRequestParams, GetPromptResponse, GetPromptResult,
    Implementation, ListPromptsResult, ListResourcesResult, PaginatedRequestParams, PromptArgument,
    PromptMessage, ReadResourceRequestParams, ReadResourceResponse, ReadResourceResult, Resource,
    ResourceContents, Role, ServerCapabilities, ServerConfig,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler, ServiceExt, tool, tool_handler, tool_router};
use tokio::sync::Semaphore;

use super::tools::advice::AdviceInput;
use super::tools::bill::{BillInput, BillSummary};
use super::tools::catalog::{DescribeInput, TableDescription, TableList};
use super::tools::change::{ChangeInput, CostChange};
use super::tools::cost::{BreakdownInput, ExplainInput, Explanation};
use super::tools::sql::{QueryInput, QueryResult};
use super::tools::{advice, bill, catalog, change, cost, sql};
use super::{Config, ToolError, prompts, resources};
use crate::analyze::report::Report;
use crate::recommend::plan::Plan;

/// What a client is told the server is for.
const INSTRUCTIONS: &str = "kubetally's Kubernetes cost data: hourly, priced allocation of \
every container, node, disk and load balancer. Start with cost_breakdown (the cost report: \
totals, lines by tenant/namespace/workload/label, shared and idle cost, waste); cost_change \
explains what moved between two periods; explain_allocation shows one workload's bill as a \
formula; recommendations gives right-sizing, spot and machine-family savings; query runs \
read-only SQL (list_tables/describe_table give the columns and units). Money is USD at list \
prices. The server is read-only.";

/// The MCP server over one dataset.
#[derive(Clone)]
pub struct Server {
    config: Arc<Config>,
    gate: Arc<Semaphore>,
    tool_router: ToolRouter<Server>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

#[tool_router]
impl Server {
    pub fn new(config: Arc<Config>) -> Server {
        Server {
            config,
            gate: Arc::new(Semaphore::new(1)),
            tool_router: Self::tool_router(),
        }
    }

    /// Runs `work` on a blocking thread, one call at a time, within the
    /// time limit; a failure is the agent's structured error.
    async fn call<T, F>(&self, work: F) -> Result<Json<T>, CallToolResult>
    where
        T: Send + 'static,
        F: FnOnce(&Config) -> Result<T, ToolError> + Send + 'static,
    {
        let config = Arc::clone(&self.config);
        let gate = Arc::clone(&self.gate);
        let timeout = config.limits.timeout;
        let run = async move {
            let permit = gate
                .acquire_owned()
                .await
                .map_err(|e| ToolError::Internal(e.to_string()))?;
            let task = tokio::task::spawn_blocking(move || {
                let _permit = permit;
                work(&config)
            });
            match task.await {
                Ok(result) => result,
                Err(join) => Err(ToolError::Internal(panic_message(join))),
            }
        };
        match tokio::time::timeout(timeout, run).await {
            Ok(Ok(value)) => Ok(Json(value)),
            Ok(Err(error)) => Err(failure(&error)),
            Err(_) => Err(failure(&ToolError::Timeout {
                seconds: timeout.as_secs(),
            })),
        }
    }

    #[tool(
        description = "List the dataset's tables (allocation, nodes, samples, resources, \
                       workloads, recommendations, reconciliation): what a row is, how many \
                       columns, and whether `query` can read it on this server.",
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn list_tables(&self) -> Result<Json<TableList>, CallToolResult> {
        self.call(catalog::list).await
    }

    #[tool(
        description = "Describe one table: every column with its type, unit (USD, core-hours, \
                       GiB-hours, bytes, cores, seconds…) and meaning. Read it before writing \
                       SQL for `query`.",
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn describe_table(
        &self,
        Parameters(input): Parameters<DescribeInput>,
    ) -> Result<Json<TableDescription>, CallToolResult> {
        self.call(move |config| catalog::describe(config, &input))
            .await
    }

    #[tool(
        description = "Run one read-only SQL SELECT (polars SQL, close to PostgreSQL) over the \
                       dataset's tables, or a bundled query by name (resources \
                       kubetally://queries/…). Returns at most max_rows rows (default 100) and \
                       says when it truncated; anything but a single SELECT/WITH is refused. \
                       Costs are in the *_cost_usd columns; time is start_time (UTC hours); \
                       filter on `date` (YYYY-MM-DD) too so fewer files are read.",
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn query(
        &self,
        Parameters(input): Parameters<QueryInput>,
    ) -> Result<Json<QueryResult>, CallToolResult> {
        self.call(move |config| sql::run(config, &input)).await
    }

    #[tool(
        description = "The cost report for a period: total cost, cost lines grouped by tenant, \
                       namespace, workload (namespace/Kind/name) or label:KEY with compute, \
                       storage, network, shared and idle parts, daily totals, how shared and \
                       idle cost were spread, the reconciliation (lines add up to the cluster's \
                       cost), waste, unused disks, node pools, data quality and savings. The \
                       same figures as `kubetally report --format json`.",
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn cost_breakdown(
        &self,
        Parameters(input): Parameters<BreakdownInput>,
    ) -> Result<Json<Report>, CallToolResult> {
        self.call(move |config| cost::breakdown(config, &input))
            .await
    }

    #[tool(
        description = "Compare two periods (default: the last seven complete days against the \
                       seven before): totals and the lines that moved most, each with why — \
                       more pods, more container-hours, bigger CPU/memory requests per hour, or \
                       higher unit prices.",
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn cost_change(
        &self,
        Parameters(input): Parameters<ChangeInput>,
    ) -> Result<Json<CostChange>, CallToolResult> {
        self.call(move |config| change::compare(config, &input))
            .await
    }

    #[tool(
        description = "Right-sizing (CPU/memory requests and limits per container), spot \
                       eligibility and cheaper machine families, each with monthly savings in \
                       USD and the evidence (usage percentiles, samples, OOM kills, restarts) — \
                       `kubetally recommend --format json`.",
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn recommendations(
        &self,
        Parameters(input): Parameters<AdviceInput>,
    ) -> Result<Json<Plan>, CallToolResult> {
        self.call(move |config| advice::recommend(config, &input))
            .await
    }

    #[tool(
        description = "One workload's bill for a period, as formulas with their numbers: \
                       compute = core-hours × price per core-hour + GiB-hours × price per \
                       GiB-hour (+ GPU), its own disks and load balancers, its share of idle \
                       and shared cost, and the total. The workload is namespace/Kind/name as \
                       cost_breakdown with by=workload names it.",
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn explain_allocation(
        &self,
        Parameters(input): Parameters<ExplainInput>,
    ) -> Result<Json<Explanation>, CallToolResult> {
        self.call(move |config| cost::explain(config, &input)).await
    }

    #[tool(
        description = "The reconciliation with the cloud bill (`kubetally reconcile`): metered \
                       list cost beside the bill's billed and effective cost, by match status \
                       and resource kind, and the effective/list factor. available=false when \
                       no bill was reconciled yet.",
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn reconciliation(
        &self,
        Parameters(input): Parameters<BillInput>,
    ) -> Result<Json<BillSummary>, CallToolResult> {
        self.call(move |config| bill::summarise(config, &input))
            .await
    }
}

/// A tool failure as the agent sees it.
fn failure(error: &ToolError) -> CallToolResult {
    let body = serde_json::json!({
        "error": {
            "kind": error.kind(),
            "message": crate::collect::event::Causes(error).to_string(),
        }
    });
    CallToolResult::error(vec![ContentBlock::text(body.to_string())])
}

/// What a panicked blocking task said, or that it was cancelled.
fn panic_message(join: tokio::task::JoinError) -> String {
    match join.try_into_panic() {
        Ok(payload) => payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic".to_owned()),
        Err(_) => "the task was cancelled".to_owned(),
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for Server {
    fn get_info(&self) -> ServerConfig {
        let mut instructions = INSTRUCTIONS.to_owned();
        if let Some(tenant) = self.config.scope.tenant() {
            instructions.push_str(&format!(
                " This server is restricted to tenant {tenant:?}: every tool sees only its rows."
            ));
        }
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_resources()
                .enable_prompts()
                .build(),
        )
        .with_server_info(Implementation::new("kubetally", env!("CARGO_PKG_VERSION")))
        .with_instructions(instructions)
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        let entries =
            resources::list().map_err(|e| ErrorData::internal_error(e.to_string(), None))?;
        let items = entries
            .into_iter()
            .map(|entry| {
                Resource::new(entry.uri, entry.name)
                    .with_description(entry.description)
                    .with_mime_type(entry.mime_type)
            })
            .collect();
        Ok(ListResourcesResult::with_all_items(items))
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        match resources::read(&request.uri) {
            Ok(Some((text, mime))) => {
                let contents = ResourceContents::TextResourceContents {
                    uri: request.uri.clone(),
                    mime_type: Some(mime.to_owned()),
                    text: text.to_owned(),
                    meta: None,
                };
                Ok(ReadResourceResult::new(vec![contents]).into())
            }
            Ok(None) => Err(ErrorData::resource_not_found(
                format!(
                    "no resource {:?}: there are {} and {}NAME",
                    request.uri,
                    resources::SCHEMA_URI,
                    resources::QUERY_PREFIX
                ),
                None,
            )),
            Err(e) => Err(ErrorData::internal_error(e.to_string(), None)),
        }
    }

    async fn list_prompts(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, ErrorData> {
        let items = prompts::PROMPTS
            .iter()
            .map(|prompt| {
                let mut focus = PromptArgument::new("focus");
                focus.description = Some("A tenant or namespace to look at (optional).".to_owned());
                focus.required = Some(false);
                rmcp::model::Prompt::new(prompt.name, Some(prompt.description), Some(vec![focus]))
            })
            .collect();
        Ok(ListPromptsResult::with_all_items(items))
    }

    async fn get_prompt(
        &self,
        request: GetPromptRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, ErrorData> {
        let focus = request
            .arguments
            .as_ref()
            .and_then(|args| args.get("focus"))
            .and_then(|v| v.as_str())
            .filter(|v| !v.is_empty());
        let Some(text) = prompts::render(&request.name, focus) else {
            let known: Vec<&str> = prompts::PROMPTS.iter().map(|p| p.name).collect();
            return Err(ErrorData::invalid_params(
                format!(
                    "no prompt {:?}: there are {}",
                    request.name,
                    known.join(", ")
                ),
                None,
            ));
        };
        let description = prompts::PROMPTS
            .iter()
            .find(|p| p.name == request.name)
            .map(|p| p.description)
            .unwrap_or_default();
        Ok(
            GetPromptResult::new(vec![PromptMessage::new_text(Role::User, text)])
                .with_description(description)
                .into(),
        )
    }
}

/// Serves MCP over standard input and output until the client closes it.
///
/// # Errors
///
/// When the transport fails to start or breaks.
pub async fn serve_stdio(config: Config) -> anyhow::Result<()> {
    let server = Server::new(Arc::new(config));
    let running = server
        .serve(rmcp::transport::stdio())
        .await
        .map_err(|e| anyhow::anyhow!("starting the MCP server on stdio: {e}"))?;
    running
        .waiting()
        .await
        .map_err(|e| anyhow::anyhow!("the MCP server on stdio: {e}"))?;
    Ok(())
}

/// Serves MCP's streamable HTTP transport at `http://ADDR/mcp` until
/// SIGINT or SIGTERM.
///
/// # Errors
///
/// When the address cannot be bound or the server fails.
pub async fn serve_http(config: Config, addr: SocketAddr) -> anyhow::Result<()> {
    use rmcp::transport::streamable_http_server::{
        StreamableHttpServerConfig, StreamableHttpService, session::local::LocalSessionManager,
    };
    let server = Server::new(Arc::new(config));
    let service = StreamableHttpService::new(
        move || Ok(server.clone()),
        Arc::new(LocalSessionManager::default()),
        StreamableHttpServerConfig::default(),
    );
    let router = axum::Router::new().nest_service("/mcp", service);
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| anyhow::anyhow!("--listen {addr}: {e}"))?;
    let local = listener
        .local_addr()
        .map_err(|e| anyhow::anyhow!("--listen {addr}: {e}"))?;
    eprintln!("kubetally mcp: serving MCP (streamable HTTP) at http://{local}/mcp");
    axum::serve(listener, router)
        .with_graceful_shutdown(crate::cli::shutdown_signal())
        .await
        .map_err(|e| anyhow::anyhow!("serving MCP at {local}: {e}"))?;
    Ok(())
}
