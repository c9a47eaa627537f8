//! `aws-service-operator`: every AWS service controller compiled in, in one process with one
//! Kubernetes client, one AWS configuration and one metrics endpoint.

use std::io::Read;

use anyhow::{Context, bail};
use aws_service_operator::{SERVICES, commands};
use clap::{Parser, Subcommand};
use operator_core::{
    cli::CoreArgs,
    commands::{ExportMode, Tools},
    operator::Operator,
    telemetry,
};

/// Manages AWS resources declared as Kubernetes resources.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// Without one, runs the controllers.
    #[command(subcommand)]
    command: Option<Command>,

    /// Which services to run (comma-separated); all when unset.
    #[arg(long, env = "ASO_CONTROLLERS", value_delimiter = ',')]
    controllers: Vec<String>,

    #[command(flatten)]
    core: CoreArgs,
}

/// Commands that read AWS (with the operator's credentials and flags, given before the
/// command) and the cluster (with the kubeconfig), and write to neither.
#[derive(Subcommand, Debug)]
enum Command {
    /// Prints, per resource of a manifest, what applying it would do in AWS: create, update
    /// these fields (AWS's value, the spec's), no change, or not ours.
    Plan {
        /// The manifest; `-` reads stdin.
        #[arg(short = 'f', long = "filename")]
        file: String,
    },
    /// Prints manifests for the resources that exist in AWS, for `kubectl apply -f -`;
    /// those this cluster already manages are skipped and named on stderr.
    Export {
        /// Services (sqs, sns, ...) or kinds (SQSQueue, ...), comma-separated.
        #[arg(long, value_delimiter = ',', required = true)]
        kinds: Vec<String>,
        /// Only resources whose AWS name starts with this.
        #[arg(long, default_value = "")]
        prefix: String,
        /// The namespace the manifests go to.
        #[arg(long, default_value = "default")]
        namespace: String,
        /// Adopted and managed, or observed read-only.
        #[arg(long, value_enum, default_value = "managed")]
        mode: ExportMode,
    },
}

async fn command(command: Command, core: &CoreArgs) -> anyhow::Result<()> {
    telemetry::init_for_command();
    let tools = Tools::connect(core).await?;
    let mut out = std::io::stdout().lock();
    match command {
        Command::Plan { file } => {
            let manifest = if file == "-" {
                let mut s = String::new();
                std::io::stdin().read_to_string(&mut s)?;
                s
            } else {
                std::fs::read_to_string(&file).with_context(|| format!("reading {file}"))?
            };
            commands::plan(&tools, &manifest, &mut out).await
        }
        Command::Export {
            kinds,
            prefix,
            namespace,
            mode,
        } => {
            let mut notes = std::io::stderr().lock();
            commands::export(
                &tools, &kinds, &prefix, &namespace, mode, &mut out, &mut notes,
            )
            .await
        }
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if let Some(c) = args.command {
        return command(c, &args.core).await;
    }
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
