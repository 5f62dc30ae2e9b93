//! Wiring: open the job store, recover from the last run, start one actor per printer with
//! its driver, hand out the `Gateway`, and shut everything down in order.
//!
//! Shutdown has three steps: notice (the caller cancels the token on SIGTERM/SIGINT), tell
//! everyone (every task holds a child of that token), wait with a deadline (a task tracker);
//! then the store thread closes the database, also within a deadline.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::Config;
use crate::gateway::Gateway;
use crate::jobs::{JobStore, StoreError, StoreThread};
use crate::printer::driver::{DriverError, DriverFactory};
use crate::printer::{self, PrinterHandle};

/// How long tasks get to finish after shutdown is requested before they are cut.
const TASK_DEADLINE: Duration = Duration::from_secs(10);
/// How long the store thread gets to finish its queue and checkpoint the database.
const STORE_DEADLINE: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Driver(#[from] DriverError),
    #[error(transparent)]
    Web(#[from] crate::web::WebStartError),
    #[error(transparent)]
    Cloud(#[from] crate::cloud::CloudError),
    #[error(transparent)]
    Slicer(#[from] crate::slicer::SlicerStartError),
}

/// A started gateway.
pub struct Running {
    pub gateway: Gateway,
    /// The job store behind the gateway: wiring only (the doors and the slicer reach it
    /// through `Gateway` methods); tests that check the store itself read it here.
    store: JobStore,
    /// The cloud link, when `cloud.enabled`.
    pub cloud: Option<crate::cloud::CloudHandle>,
    tasks: TaskTracker,
    shutdown: CancellationToken,
    store_thread: StoreThread,
    web_addr: SocketAddr,
}

/// Starts the gateway; returns once every printer actor runs.
pub async fn start(
    config: Config,
    drivers: Arc<dyn DriverFactory>,
    shutdown: CancellationToken,
) -> Result<Running, StartError> {
    let (store, store_thread) = JobStore::open(&config.gateway.state_dir)?;
    let web = crate::web::prepare(&config).await?;
    let reattach: Vec<_> = (config.printers.iter())
        .filter(|p| drivers.can_reattach(p))
        .map(|p| p.id.clone())
        .collect();
    let recovered = store
        .call(move |db| db.recover_after_restart_except(&reattach))
        .await?;
    for job in &recovered {
        tracing::warn!(job = %job.id, printer = ?job.printer.as_ref().map(|p| p.as_str()),
            "job was on the printer when the gateway stopped; marked interrupted");
    }
    let tasks = TaskTracker::new();
    let mut printers: Vec<PrinterHandle> = Vec::with_capacity(config.printers.len());
    for printer_config in &config.printers {
        let token = shutdown.child_token();
        let link = drivers.start(printer_config, token.clone(), &tasks)?;
        printers.push(
            printer::spawn(printer_config.clone(), store.clone(), link, token, &tasks).await?,
        );
    }
    let gateway = Gateway::new(store.clone(), printers);
    let gateway = crate::slicer::start(&config, gateway, &tasks, shutdown.child_token()).await?;
    let cloud = match &config.cloud.link {
        Some(link) => Some(start_cloud(&config, link, &gateway, &tasks, &shutdown).await?),
        None => None,
    };
    tracing::info!(
        gateway = %config.gateway.id,
        printers = gateway.printers().len(),
        cloud = cloud.is_some(),
        state_dir = %config.gateway.state_dir.display(),
        "gateway started"
    );
    let web_addr = web.launch(gateway.clone(), &config, &tasks, shutdown.child_token());
    Ok(Running {
        gateway,
        store,
        cloud,
        tasks,
        shutdown,
        store_thread,
        web_addr,
    })
}

async fn start_cloud(
    config: &Config,
    link: &crate::config::CloudLink,
    gateway: &Gateway,
    tasks: &TaskTracker,
    shutdown: &CancellationToken,
) -> Result<crate::cloud::CloudHandle, crate::cloud::CloudError> {
    // Issue #16: a gateway with a claim and no identity yet enrolls before it connects.
    crate::cloud::enroll::on_first_start(
        &config.gateway.id,
        link,
        config.cloud.claim.as_ref(),
        &config.gateway.state_dir,
    )
    .await?;
    let setup = crate::cloud::CloudSetup {
        gateway_id: &config.gateway.id,
        link,
        downloads: &config.cloud.downloads,
        state_dir: &config.gateway.state_dir,
        update: &config.update,
    };
    crate::cloud::start(setup, gateway.clone(), tasks, shutdown.child_token()).await
}

impl Running {
    pub fn tasks(&self) -> &TaskTracker {
        &self.tasks
    }

    /// Where the LAN page and API listen (the real port when `web.listen` asked for port 0).
    pub fn web_addr(&self) -> SocketAddr {
        self.web_addr
    }

    pub fn shutdown_token(&self) -> &CancellationToken {
        &self.shutdown
    }

    /// The raw job store, for tests that check the database itself (a file record left or
    /// not, many events in one commit); everything else goes through `gateway`.
    pub fn store(&self) -> &JobStore {
        &self.store
    }

    /// True while the store and every printer actor run (what the watchdog pings for).
    pub fn is_alive(&self) -> bool {
        self.gateway.is_alive()
    }

    /// Waits for shutdown to be requested, then stops everything within the deadlines.
    pub async fn wait(self) {
        self.shutdown.cancelled().await;
        self.stop().await;
    }

    /// Stops now.
    pub async fn stop(self) {
        let Running {
            gateway,
            store,
            cloud: _,
            tasks,
            shutdown,
            store_thread,
            ..
        } = self;
        shutdown.cancel();
        tasks.close();
        if tokio::time::timeout(TASK_DEADLINE, tasks.wait())
            .await
            .is_err()
        {
            tracing::warn!(
                remaining = tasks.len(),
                "tasks did not stop within {TASK_DEADLINE:?}; cutting them"
            );
        }
        // The store thread ends when the last handle is gone.
        drop((gateway, store));
        let join = tokio::task::spawn_blocking(move || store_thread.join());
        if tokio::time::timeout(STORE_DEADLINE, join).await.is_err() {
            tracing::error!("the job store did not close within {STORE_DEADLINE:?}");
        }
        tracing::info!("gateway stopped");
    }
}
