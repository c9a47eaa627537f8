//! `sqs-controller`: the SQS controller on its own.

use clap::Parser;
use operator_core::{cli::CoreArgs, operator::Operator};

/// Manages Amazon SQS queues declared as `SQSQueue` resources.
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
    let controllers = sqs_controller::SERVICE.controllers(&operator);
    operator.run(controllers).await?;
    Ok(())
}
