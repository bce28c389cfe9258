//! One module per subcommand.

pub mod bench;
pub mod demo;
pub mod serve;
pub mod sim;
