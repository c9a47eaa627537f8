//! `sns-controller`: the SNS controller on its own.

use clap::Parser;
use operator_core::{cli::CoreArgs, operator::Operator};

/// Manages Amazon SNS topics and subscriptions declared as `SNSTopic` and `SNSSubscription` resources.
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
    let controllers = sns_controller::SERVICE.controllers(&operator);
    operator.run(controllers).await?;
    Ok(())
}
