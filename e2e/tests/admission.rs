//! What the API server itself refuses or accepts, before any operator runs: a manifest without
//! `spec` where the original operator took one, and a `metadata.name` that AWS would refuse as
//! the default AWS name. Server-side dry runs against the local control plane; run by `just test`.

use e2e::{env, install_crds, kubectl_apply_with, namespace};

/// `kubectl apply --dry-run=server` of `manifest`; (accepted, stderr).
fn dry_run(ns: &str, manifest: &str) -> (bool, String) {
    kubectl_apply_with(ns, &["--dry-run=server"], manifest)
}

fn manifest(kind: &str, name: &str, spec: &str) -> String {
    format!(
        "apiVersion: service-operator.aws/v1alpha1\nkind: {kind}\nmetadata:\n  name: {name}\n{spec}"
    )
}

#[tokio::test]
async fn kinds_the_original_took_without_spec_are_accepted_without_one() {
    let env = env().await;
    install_crds(&env.kube).await;
    let ns = namespace(&env.kube, "admission-no-spec", &[]).await;
    for kind in ["ECRRepository", "SNSTopic", "SQSQueue", "S3Bucket"] {
        for spec in ["", "spec:\n", "spec: {}\n"] {
            let (ok, err) = dry_run(&ns, &manifest(kind, "no-spec-here", spec));
            assert!(ok, "{kind} with {spec:?} was refused: {err}");
        }
    }
    // These need their spec: the original's did too.
    for kind in ["DynamoDB", "SNSSubscription"] {
        let (ok, _) = dry_run(&ns, &manifest(kind, "no-spec-here", ""));
        assert!(!ok, "{kind} without spec was accepted");
    }
}

#[tokio::test]
async fn names_aws_would_refuse_are_refused_at_admission_with_the_rule() {
    let env = env().await;
    install_crds(&env.kube).await;
    let ns = namespace(&env.kube, "admission-names", &[]).await;
    let ddb =
        "spec:\n  hashAttribute:\n    name: id\n    type: S\n  billingMode: PAY_PER_REQUEST\n";
    let refused = [
        ("SQSQueue", "orders.v2", "", "SQS queue name"),
        ("SNSTopic", "orders.v2", "", "SNS topic name"),
        ("S3Bucket", "a", "", "S3 bucket name"),
        ("S3Bucket", "my..bucket", "", "S3 bucket name"),
        ("S3Bucket", "192.168.1.1", "", "S3 bucket name"),
        ("S3Bucket", "xn--bucket", "", "S3 bucket name"),
        ("S3Bucket", &"b".repeat(64), "", "S3 bucket name"),
        ("ECRRepository", "a", "", "ECR repository name"),
        ("ECRRepository", "app--web", "", "ECR repository name"),
        ("DynamoDB", "ab", ddb, "DynamoDB table name"),
    ];
    for (kind, name, spec, what) in refused {
        let (ok, err) = dry_run(&ns, &manifest(kind, name, spec));
        assert!(!ok, "{kind} {name:?} was accepted");
        assert!(
            err.contains(what) && err.contains("metadata.name"),
            "{kind} {name:?}: the refusal does not name the rule ({what}): {err}"
        );
    }
    // A name of the AWS resource's own, or a name AWS takes, is fine.
    let accepted = [
        ("SQSQueue", "orders.v2", "spec:\n  queueName: orders-v2\n"),
        ("SQSQueue", "orders.fifo", "spec:\n  fifoQueue: true\n"),
        ("SNSTopic", "orders", ""),
        ("S3Bucket", "assets.example.com", ""),
        ("S3Bucket", "a", "spec:\n  bucketName: a-real-bucket\n"),
        ("ECRRepository", "app.web", ""),
        ("DynamoDB", "abc", ddb),
    ];
    for (kind, name, spec) in accepted {
        let (ok, err) = dry_run(&ns, &manifest(kind, name, spec));
        assert!(ok, "{kind} {name:?} was refused: {err}");
    }
}
