//! Hand-written extensions of the generated client: every paginated listing as an
//! async stream, and the Jobs 2.2 reads whose inner arrays arrive in pages.

use futures::stream::{self, BoxStream, StreamExt, TryStreamExt};

use crate::{Client, Error, builder, types};

/// Turn a "fetch one page given a token" function into a stream of items.
///
/// The listing ends only when the server sends no token (or an empty one); a page
/// may be empty while a token is still set, as Unity Catalog's are. A server that
/// repeats the token it was just given would loop forever, so that is an error.
fn token_pages<'a, T, F, Fut>(mut fetch: F) -> BoxStream<'a, Result<T, Error>>
where
    T: Send + 'a,
    F: FnMut(Option<String>) -> Fut + Send + 'a,
    Fut: std::future::Future<Output = Result<(Vec<T>, Option<String>), Error>> + Send + 'a,
{
    // State: Some(token to send) while pages remain; None once the last page was read.
    let pages = stream::try_unfold(Some(None::<String>), move |state| {
        let request = state.map(|sent| (fetch(sent.clone()), sent));
        async move {
            let Some((page, sent)) = request else { return Ok(None) };
            let (items, token) = page.await?;
            let token = token.filter(|t| !t.is_empty());
            if token.is_some() && token == sent {
                return Err(Error::Decode(format!(
                    "the server returned page token {:?} again; stopping to avoid an endless listing",
                    token.unwrap_or_default()
                )));
            }
            Ok(Some((items, token.map(Some))))
        }
    });
    pages.map_ok(|items| stream::iter(items.into_iter().map(Ok))).try_flatten().boxed()
}

/// Paginated listings as streams of items, and complete Jobs 2.2 reads.
///
/// Each `*_all` listing takes a closure that sets the request's filters on the
/// generated builder; the page token is managed for you.
///
/// ```no_run
/// use databricks_client::{Client, ClientPagesExt};
/// use futures::TryStreamExt;
///
/// # async fn demo(client: &Client) -> Result<(), databricks_client::Error> {
/// let running: Vec<_> = client
///     .clusters_list_all(|b| b.filter_by_cluster_states(vec!["RUNNING".to_string().into()]))
///     .try_collect()
///     .await?;
/// # Ok(())
/// # }
/// ```
pub trait ClientPagesExt {
    /// Every cluster, following `next_page_token`.
    fn clusters_list_all<'a>(
        &'a self,
        configure: impl Fn(builder::ClustersList<'a>) -> builder::ClustersList<'a> + Send + 'a,
    ) -> BoxStream<'a, Result<types::ClusterDetails, Error>>;

    /// Every event of a cluster. The body sets the cluster and filters; the
    /// `next_page` request object (or `next_page_token`) of each answer drives the next call.
    fn clusters_events_all(&self, body: types::ClustersEventsBody)
    -> BoxStream<'_, Result<types::ClusterEvent, Error>>;

    /// Every job (summaries as `jobs/list` returns them).
    fn jobs_list_all<'a>(
        &'a self,
        configure: impl Fn(builder::JobsList<'a>) -> builder::JobsList<'a> + Send + 'a,
    ) -> BoxStream<'a, Result<types::BaseJob, Error>>;

    /// Every job run matching the filters.
    fn jobs_list_runs_all<'a>(
        &'a self,
        configure: impl Fn(builder::JobsListRuns<'a>) -> builder::JobsListRuns<'a> + Send + 'a,
    ) -> BoxStream<'a, Result<types::BaseRun, Error>>;

    /// Every SQL warehouse.
    fn warehouses_list_all<'a>(
        &'a self,
        configure: impl Fn(builder::WarehousesList<'a>) -> builder::WarehousesList<'a> + Send + 'a,
    ) -> BoxStream<'a, Result<types::EndpointInfo, Error>>;

    /// Every catalog. `max_results` defaults to 0 (the server picks the page size).
    fn catalogs_list_all<'a>(
        &'a self,
        configure: impl Fn(builder::CatalogsList<'a>) -> builder::CatalogsList<'a> + Send + 'a,
    ) -> BoxStream<'a, Result<types::CatalogInfo, Error>>;

    /// Every schema of a catalog (set `catalog_name` in `configure`).
    fn schemas_list_all<'a>(
        &'a self,
        configure: impl Fn(builder::SchemasList<'a>) -> builder::SchemasList<'a> + Send + 'a,
    ) -> BoxStream<'a, Result<types::SchemaInfo, Error>>;

    /// Every table of a schema (set `catalog_name` and `schema_name` in `configure`).
    fn tables_list_all<'a>(
        &'a self,
        configure: impl Fn(builder::TablesList<'a>) -> builder::TablesList<'a> + Send + 'a,
    ) -> BoxStream<'a, Result<types::TableInfo, Error>>;

    /// Every table summary matching the catalog and the schema/table name patterns.
    fn tables_list_summaries_all<'a>(
        &'a self,
        configure: impl Fn(builder::TablesListSummaries<'a>) -> builder::TablesListSummaries<'a> + Send + 'a,
    ) -> BoxStream<'a, Result<types::TableSummary, Error>>;

    /// Every volume of a schema (set `catalog_name` and `schema_name` in `configure`).
    fn volumes_list_all<'a>(
        &'a self,
        configure: impl Fn(builder::VolumesList<'a>) -> builder::VolumesList<'a> + Send + 'a,
    ) -> BoxStream<'a, Result<types::VolumeInfo, Error>>;

    /// A job with every task, job cluster, environment and parameter: Jobs 2.2 returns
    /// these arrays 100 elements at a time, and this follows `next_page_token` and appends.
    fn jobs_get_all(&self, job_id: i64) -> impl std::future::Future<Output = Result<types::Job, Error>> + Send;

    /// A run with every task, job cluster, parameter, repair and iteration, assembled
    /// from its pages as [`ClientPagesExt::jobs_get_all`] does for jobs.
    fn jobs_get_run_all(&self, run_id: i64) -> impl std::future::Future<Output = Result<types::Run, Error>> + Send;
}

macro_rules! token_listing {
    ($self:ident, $configure:ident, $method:ident, $items:ident $(, $prep:ident($arg:expr))?) => {{
        let configure = $configure;
        token_pages(move |token: Option<String>| {
            let mut request = configure($self.$method()$(.$prep($arg))?);
            if let Some(token) = token {
                request = request.page_token(token);
            }
            async move {
                let page = request.send().await?.into_inner();
                Ok((page.$items, page.next_page_token))
            }
        })
    }};
}

impl ClientPagesExt for Client {
    fn clusters_list_all<'a>(
        &'a self,
        configure: impl Fn(builder::ClustersList<'a>) -> builder::ClustersList<'a> + Send + 'a,
    ) -> BoxStream<'a, Result<types::ClusterDetails, Error>> {
        token_listing!(self, configure, clusters_list, clusters)
    }

    fn clusters_events_all(
        &self,
        body: types::ClustersEventsBody,
    ) -> BoxStream<'_, Result<types::ClusterEvent, Error>> {
        let pages = stream::try_unfold(Some(body), move |next| async move {
            let Some(body) = next else { return Ok(None) };
            let page = self.clusters_events().body(body.clone()).send().await?.into_inner();
            let following =
                if !page.next_page.is_empty() {
                    let value = serde_json::Value::Object(page.next_page.clone());
                    Some(serde_json::from_value::<types::ClustersEventsBody>(value).map_err(|e| {
                        Error::Decode(format!("the events page's next_page is not a request body: {e}"))
                    })?)
                } else {
                    page.next_page_token.filter(|t| !t.is_empty()).map(|t| types::ClustersEventsBody {
                        page_token: Some(t),
                        offset: None,
                        ..body.clone()
                    })
                };
            let same =
                |next: &types::ClustersEventsBody| serde_json::to_value(next).ok() == serde_json::to_value(&body).ok();
            if following.as_ref().is_some_and(same) {
                return Err(Error::Decode("the events listing returned the same page request twice".into()));
            }
            Ok(Some((page.events, following)))
        });
        pages.map_ok(|items| stream::iter(items.into_iter().map(Ok))).try_flatten().boxed()
    }

    fn jobs_list_all<'a>(
        &'a self,
        configure: impl Fn(builder::JobsList<'a>) -> builder::JobsList<'a> + Send + 'a,
    ) -> BoxStream<'a, Result<types::BaseJob, Error>> {
        token_listing!(self, configure, jobs_list, jobs)
    }

    fn jobs_list_runs_all<'a>(
        &'a self,
        configure: impl Fn(builder::JobsListRuns<'a>) -> builder::JobsListRuns<'a> + Send + 'a,
    ) -> BoxStream<'a, Result<types::BaseRun, Error>> {
        token_listing!(self, configure, jobs_list_runs, runs)
    }

    fn warehouses_list_all<'a>(
        &'a self,
        configure: impl Fn(builder::WarehousesList<'a>) -> builder::WarehousesList<'a> + Send + 'a,
    ) -> BoxStream<'a, Result<types::EndpointInfo, Error>> {
        token_listing!(self, configure, warehouses_list, warehouses)
    }

    fn catalogs_list_all<'a>(
        &'a self,
        configure: impl Fn(builder::CatalogsList<'a>) -> builder::CatalogsList<'a> + Send + 'a,
    ) -> BoxStream<'a, Result<types::CatalogInfo, Error>> {
        token_listing!(self, configure, catalogs_list, catalogs, max_results(0))
    }

    fn schemas_list_all<'a>(
        &'a self,
        configure: impl Fn(builder::SchemasList<'a>) -> builder::SchemasList<'a> + Send + 'a,
    ) -> BoxStream<'a, Result<types::SchemaInfo, Error>> {
        token_listing!(self, configure, schemas_list, schemas, max_results(0))
    }

    fn tables_list_all<'a>(
        &'a self,
        configure: impl Fn(builder::TablesList<'a>) -> builder::TablesList<'a> + Send + 'a,
    ) -> BoxStream<'a, Result<types::TableInfo, Error>> {
        token_listing!(self, configure, tables_list, tables, max_results(0))
    }

    fn tables_list_summaries_all<'a>(
        &'a self,
        configure: impl Fn(builder::TablesListSummaries<'a>) -> builder::TablesListSummaries<'a> + Send + 'a,
    ) -> BoxStream<'a, Result<types::TableSummary, Error>> {
        token_listing!(self, configure, tables_list_summaries, tables, max_results(0))
    }

    fn volumes_list_all<'a>(
        &'a self,
        configure: impl Fn(builder::VolumesList<'a>) -> builder::VolumesList<'a> + Send + 'a,
    ) -> BoxStream<'a, Result<types::VolumeInfo, Error>> {
        token_listing!(self, configure, volumes_list, volumes, max_results(0))
    }

    async fn jobs_get_all(&self, job_id: i64) -> Result<types::Job, Error> {
        let mut job = self.jobs_get().job_id(job_id).send().await?.into_inner();
        let mut token = job.next_page_token.take().filter(|t| !t.is_empty());
        while let Some(t) = token {
            let mut page = self.jobs_get().job_id(job_id).page_token(t.clone()).send().await?.into_inner();
            if let (Some(settings), Some(more)) = (job.settings.as_mut(), page.settings.take()) {
                settings.tasks.extend(more.tasks);
                settings.job_clusters.extend(more.job_clusters);
                settings.environments.extend(more.environments);
                settings.parameters.extend(more.parameters);
            }
            token = page.next_page_token.filter(|n| !n.is_empty());
            if token.as_deref() == Some(t.as_str()) {
                return Err(Error::Decode("jobs/get returned the same page token twice".into()));
            }
        }
        job.has_more = None;
        Ok(job)
    }

    async fn jobs_get_run_all(&self, run_id: i64) -> Result<types::Run, Error> {
        let mut run = self.jobs_get_run().run_id(run_id).send().await?.into_inner();
        let mut token = run.next_page_token.take().filter(|t| !t.is_empty());
        while let Some(t) = token {
            let page = self.jobs_get_run().run_id(run_id).page_token(t.clone()).send().await?.into_inner();
            run.tasks.extend(page.tasks);
            run.job_clusters.extend(page.job_clusters);
            run.job_parameters.extend(page.job_parameters);
            run.repair_history.extend(page.repair_history);
            run.iterations.extend(page.iterations);
            token = page.next_page_token.filter(|n| !n.is_empty());
            if token.as_deref() == Some(t.as_str()) {
                return Err(Error::Decode("jobs/runs/get returned the same page token twice".into()));
            }
        }
        run.has_more = None;
        Ok(run)
    }
}
