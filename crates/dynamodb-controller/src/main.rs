//! `dynamodb-controller`: the DynamoDB controller on its own.

use clap::Parser;
use operator_core::{cli::CoreArgs, operator::Operator};

/// Manages Amazon DynamoDB tables declared as `DynamoDB` resources.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    #[command(flatten)]
    core: CoreArgs,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let operator = Operator::start(args.core).await?;
    let controllers = dynamodb_controller::SERVICE.controllers(&operator);
    operator.run(controllers).await?;
    Ok(())
}
