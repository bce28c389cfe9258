//! One module per subcommand.

pub mod bench;
pub mod check;
pub mod demo;
pub mod discover;
pub mod routes;
pub mod scan;
pub mod scenario;
pub mod serve;
pub mod sim;
pub mod usage;
