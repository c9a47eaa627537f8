//! `crds/` must hold exactly what the Rust types generate.

#[test]
fn committed_crds_match_the_rust_types() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../crds");
    let expected = aws_service_operator::crd_files();
    for (name, yaml) in &expected {
        let committed = std::fs::read_to_string(format!("{dir}/{name}"))
            .unwrap_or_else(|e| panic!("crds/{name} is missing ({e}); run `just crds`"));
        assert_eq!(&committed, yaml, "crds/{name} is stale; run `just crds`");
    }
    let mut files: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".yaml"))
        .collect();
    files.sort();
    let mut names: Vec<String> = expected.into_iter().map(|(n, _)| n).collect();
    names.sort();
    assert_eq!(
        files, names,
        "crds/ holds files no kind generates; run `just crds`"
    );
}
