//! `aws-service-operator`: every AWS service controller compiled in, in one process with one
//! Kubernetes client, one AWS configuration and one metrics endpoint.

use anyhow::bail;
use aws_service_operator::SERVICES;
use clap::Parser;
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

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let known: Vec<&str> = SERVICES.iter().map(|s| s.name).collect();
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
        .filter(|s| args.controllers.is_empty() || args.controllers.contains(&s.name.to_owned()))
        .flat_map(|s| s.controllers(&operator))
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
