//! `ecr-controller`: the ECR controller on its own.

use clap::Parser;
use operator_core::{cli::CoreArgs, operator::Operator};

/// Manages Amazon ECR repositories declared as `ECRRepository` resources.
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
    let controllers = ecr_controller::SERVICE.controllers(&operator);
    operator.run(controllers).await?;
    Ok(())
}
