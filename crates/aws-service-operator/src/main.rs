//! `aws-service-operator`: every AWS service controller compiled in, in one process with one
//! Kubernetes client, one AWS configuration and one metrics endpoint.

use anyhow::bail;
use clap::Parser;
use futures::future::BoxFuture;
use operator_core::{cli::CoreArgs, operator::Operator};

/// Manages AWS resources declared as Kubernetes resources.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// Which services to run (comma-separated); all when unset.
    #[arg(long, env = "ASO_CONTROLLERS", value_delimiter = ',')]
    controllers: Vec<String>,

    #[command(flatten)]
    core: CoreArgs,
}

type Controllers = fn(&Operator) -> Vec<BoxFuture<'static, ()>>;

/// The services compiled into this binary.
const SERVICES: &[(&str, Controllers)] = &[
    (
        dynamodb_controller::SERVICE,
        dynamodb_controller::controllers,
    ),
    (s3_controller::SERVICE, s3_controller::controllers),
    (ecr_controller::SERVICE, ecr_controller::controllers),
    (sqs_controller::SERVICE, sqs_controller::controllers),
    (sns_controller::SERVICE, sns_controller::controllers),
];

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let known: Vec<&str> = SERVICES.iter().map(|(name, _)| *name).collect();
    if let Some(unknown) = args
        .controllers
        .iter()
        .find(|c| !known.contains(&c.as_str()))
    {
        bail!(
            "unknown controller {unknown:?}; known: {}",
            known.join(", ")
        );
    }
    let operator = Operator::start(args.core).await?;
    let controllers = SERVICES
        .iter()
        .filter(|(name, _)| {
            args.controllers.is_empty() || args.controllers.iter().any(|c| c == name)
        })
        .flat_map(|(_, controllers)| controllers(&operator))
        .collect();
    operator.run(controllers).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn flags_are_consistent() {
        super::Args::command().debug_assert();
    }
}
