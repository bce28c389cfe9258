//! The gateway's shared state: the checked config, the compiled routes and the upstream clients.

use crate::config::Config;
use crate::routes::RouteTable;
use crate::upstream::{SetupError, Upstreams};

#[derive(Debug)]
pub struct GatewayState {
    pub config: Config,
    pub routes: RouteTable,
    pub upstreams: Upstreams,
}

impl GatewayState {
    pub async fn build(config: Config) -> Result<Self, SetupError> {
        let _ = crate::telemetry::prometheus();
        let upstreams = Upstreams::build(&config).await?;
        let routes = RouteTable::compile(&config);
        Ok(GatewayState {
            config,
            routes,
            upstreams,
        })
    }
}
