//! Writes every CRD to the directory given (default `crds/`), and the services manifest the
//! charts are generated from to the file given second (default `charts/_src/services.json`).

use aws_service_operator::{SERVICES_MANIFEST, crd_files, services_manifest};

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let dir = args.next().unwrap_or_else(|| "crds".into());
    let manifest = args.next().unwrap_or_else(|| SERVICES_MANIFEST.into());
    std::fs::create_dir_all(&dir)?;
    for (name, yaml) in crd_files() {
        std::fs::write(format!("{dir}/{name}"), yaml)?;
        println!("{dir}/{name}");
    }
    std::fs::write(&manifest, services_manifest())?;
    println!("{manifest}");
    Ok(())
}
