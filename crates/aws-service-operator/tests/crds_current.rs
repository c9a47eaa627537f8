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

#[test]
fn the_charts_services_manifest_matches_the_service_crates() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../");
    let committed =
        std::fs::read_to_string(format!("{path}{}", aws_service_operator::SERVICES_MANIFEST))
            .expect("the services manifest is missing; run `just crds`");
    assert_eq!(
        committed,
        aws_service_operator::services_manifest(),
        "{} is stale; run `just crds`, then `just charts`",
        aws_service_operator::SERVICES_MANIFEST
    );
}

#[test]
fn the_manifest_derives_references_from_the_kinds() {
    let manifest = |name: &str| {
        aws_service_operator::SERVICES
            .iter()
            .find(|s| s.name == name)
            .unwrap_or_else(|| panic!("no service {name}"))
            .manifest()
    };
    let sns = manifest("sns");
    assert_eq!(sns.kinds, ["snstopics", "snssubscriptions"]);
    // SNSSubscription refers to SNSTopic (its own service) and SQSQueue (another one's).
    assert_eq!(sns.references, ["sqsqueues"]);
    // SQSQueue refers to SQSQueue (its dead-letter queue): not another service's kind.
    assert!(manifest("sqs").references.is_empty());
    assert_eq!(manifest("s3").objects, ["services"]);
}
