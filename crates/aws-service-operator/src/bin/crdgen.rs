//! Writes every CRD to the directory given (default `crds/`).

fn main() -> anyhow::Result<()> {
    let dir = std::env::args().nth(1).unwrap_or_else(|| "crds".into());
    std::fs::create_dir_all(&dir)?;
    for (name, yaml) in aws_service_operator::crd_files() {
        std::fs::write(format!("{dir}/{name}"), yaml)?;
        println!("{dir}/{name}");
    }
    Ok(())
}
