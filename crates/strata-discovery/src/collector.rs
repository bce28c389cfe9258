//! The fan-out: every configured account × region scanned concurrently, within the per-account
//! and overall limits on control-plane calls in flight. One round yields one [`RegionScan`] per
//! (account, region): fresh, or `Missing` with the error (the catalog merge turns that into
//! stale data when older data exists).

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_credential_types::provider::SharedCredentialsProvider;
use aws_sdk_bedrock::config::{BehaviorVersion, Region as SdkRegion};
use aws_smithy_types::retry::RetryConfig;
use aws_smithy_types::timeout::TimeoutConfig;
use futures::stream::{FuturesUnordered, StreamExt};
use strata_core::{Region, RegionScan};
use tokio::sync::Semaphore;

use crate::scan::{Permits, RegionScanner};
use crate::settings::DiscoverySettings;

/// An account to scan, with the credentials to scan it with.
#[derive(Debug, Clone)]
pub struct DiscoveryAccount {
    pub name: String,
    pub credentials: SharedCredentialsProvider,
}

/// One (account, region) and its control-plane client.
#[derive(Debug)]
struct ScanTarget {
    account: String,
    region: Region,
    client: aws_sdk_bedrock::Client,
    quotas: aws_sdk_servicequotas::Client,
    permits: Permits,
}

/// How a round is going, for progress bars.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RoundProgress {
    pub done: usize,
    pub failed: usize,
    pub total: usize,
}

/// Scans every configured account × region.
#[derive(Debug)]
pub struct Collector {
    targets: Vec<ScanTarget>,
    max_attempts: u32,
    models: Vec<String>,
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl Collector {
    /// Builds one SDK client per (account, region); `endpoint_url` overrides AWS's endpoints
    /// (the emulator, a VPC endpoint). Nothing is called yet.
    pub fn new(settings: &DiscoverySettings, accounts: &[DiscoveryAccount], endpoint_url: Option<&str>) -> Collector {
        let total = Arc::new(Semaphore::new(settings.concurrency));
        let regions = settings.regions();
        let mut targets = Vec::with_capacity(accounts.len() * regions.len());
        let mut shared_http = None;
        for account in accounts {
            let permits = Permits {
                account: Arc::new(Semaphore::new(settings.concurrency_per_account)),
                total: Arc::clone(&total),
            };
            for region in &regions {
                let mut builder = aws_sdk_bedrock::Config::builder()
                    .behavior_version(BehaviorVersion::latest())
                    .region(SdkRegion::new(region.as_str().to_string()))
                    .credentials_provider(account.credentials.clone())
                    // Retries are ours (`retry.rs`): one policy, visible in one place.
                    .retry_config(RetryConfig::disabled())
                    .timeout_config(
                        TimeoutConfig::builder()
                            .operation_attempt_timeout(Duration::from_millis(settings.call_timeout_ms))
                            .connect_timeout(Duration::from_secs(5))
                            .build(),
                    );
                if let Some(url) = endpoint_url {
                    builder = builder.endpoint_url(url);
                }
                if let Some(http) = &shared_http {
                    builder = builder.http_client(Clone::clone(http));
                }
                let config = builder.build();
                if shared_http.is_none() {
                    shared_http = config.http_client();
                }
                // Service Quotas: the same credentials, region, endpoint, timeouts and connections.
                let mut quotas = aws_sdk_servicequotas::Config::builder()
                    .behavior_version(aws_sdk_servicequotas::config::BehaviorVersion::latest())
                    .region(aws_sdk_servicequotas::config::Region::new(region.as_str().to_string()))
                    .credentials_provider(account.credentials.clone())
                    .retry_config(RetryConfig::disabled());
                if let Some(timeouts) = config.timeout_config() {
                    quotas = quotas.timeout_config(timeouts.clone());
                }
                if let Some(url) = endpoint_url {
                    quotas = quotas.endpoint_url(url);
                }
                if let Some(http) = &shared_http {
                    quotas = quotas.http_client(Clone::clone(http));
                }
                targets.push(ScanTarget {
                    account: account.name.clone(),
                    region: region.clone(),
                    quotas: aws_sdk_servicequotas::Client::from_conf(quotas.build()),
                    client: aws_sdk_bedrock::Client::from_conf(config),
                    permits: permits.clone(),
                });
            }
        }
        Collector {
            targets,
            max_attempts: settings.max_attempts,
            models: settings.models.clone(),
        }
    }

    /// How many (account, region) pairs a round scans.
    pub fn size(&self) -> usize {
        self.targets.len()
    }

    /// Scans everything once. `progress` is called after each (account, region) finishes.
    pub async fn scan_round(&self, progress: &(dyn Fn(RoundProgress) + Sync)) -> Vec<RegionScan> {
        let now = unix_now();
        let total = self.targets.len();
        let mut running: FuturesUnordered<_> = self
            .targets
            .iter()
            .map(|t| async move {
                let scanner = RegionScanner {
                    client: &t.client,
                    quotas: &t.quotas,
                    account: &t.account,
                    region: &t.region,
                    permits: &t.permits,
                    max_attempts: self.max_attempts,
                    models: &self.models,
                };
                match scanner.scan(now).await {
                    Ok(scan) => (scan, false),
                    Err(e) => {
                        tracing::warn!(account = %t.account, region = %t.region, error = %e, "region scan failed; keeping the last good data");
                        (RegionScan::missing(&t.account, t.region.clone(), unix_now(), e.to_string()), true)
                    }
                }
            })
            .collect();
        let mut scans = Vec::with_capacity(total);
        let mut failed = 0;
        while let Some((scan, did_fail)) = running.next().await {
            failed += usize::from(did_fail);
            scans.push(scan);
            progress(RoundProgress {
                done: scans.len(),
                failed,
                total,
            });
        }
        scans
    }
}
