//! Where resources land: the account a namespace's role leads to (STS AssumeRole, which moto
//! answers with credentials of the role's account), and the region a resource's or its
//! namespace's annotation names; both recorded in status, and a recorded region never moved.
//! Run by `just test` against the local control plane and moto.

use std::time::Duration;

use e2e::{
    Aws, Operator, Resources, condition, env, install_crds, namespace, wait_gone, wait_until,
};
use sns_controller::SNSTopic;
use sqs_controller::SQSQueue;

const REGION: &str = "service-operator.aws/region";
const ROLE_ARN: &str = "service-operator.aws/role-arn";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_namespaces_with_two_roles_land_in_two_accounts() {
    let env = env().await;
    install_crds(&env.kube).await;
    let roles = [
        "arn:aws:iam::111111111111:role/team-a",
        "arn:aws:iam::222222222222:role/team-b",
    ];
    let mut namespaces = Vec::new();
    let mut operators = Vec::new();
    for (i, role) in roles.iter().enumerate() {
        let ns = namespace(
            &env.kube,
            &format!("placement-acct{i}"),
            &[(ROLE_ARN, role)],
        )
        .await;
        operators.push(Operator::start(&ns, &[]));
        namespaces.push(ns);
    }
    let own = Aws::new(&env.aws);
    let region = env.aws.region().unwrap().to_string();
    for (ns, role) in namespaces.iter().zip(roles) {
        let account = &role[13..25];
        let queues = Resources::<SQSQueue>::new(&env.kube, ns);
        let name = format!("{ns}-q");
        queues
            .create(&name, serde_json::json!({}), serde_json::json!({}))
            .await;
        let ready = queues.wait_ready(&name).await;
        let status = ready.status.as_ref().unwrap();
        assert_eq!(status.account_id.as_deref(), Some(account));
        assert_eq!(status.region.as_deref(), Some(region.as_str()));
        assert!(
            status.arn.as_deref().unwrap().contains(account),
            "{:?}",
            status.arn
        );

        // In the role's account, and in no other.
        let there = Aws::placed(&env.aws, &region, Some(role)).await;
        assert_eq!(there.queues_named(&name).await.len(), 1, "not in {account}");
        assert!(
            own.queues_named(&name).await.is_empty(),
            "in the operator's own account"
        );
        for other in roles.iter().filter(|r| **r != role) {
            let elsewhere = Aws::placed(&env.aws, &region, Some(other)).await;
            assert!(elsewhere.queues_named(&name).await.is_empty(), "in {other}");
        }

        // Deleted from the account it lives in.
        queues.api.delete(&name, &Default::default()).await.unwrap();
        wait_gone(&queues.api, &name, Duration::from_secs(30)).await;
        assert!(
            there.queues_named(&name).await.is_empty(),
            "left in {account}"
        );
    }
    drop(operators);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_region_annotation_places_the_resource_and_pins_it_there() {
    let env = env().await;
    install_crds(&env.kube).await;
    let ns = namespace(&env.kube, "placement-region", &[(REGION, "eu-west-1")]).await;
    let _op = Operator::start(&ns, &[]);
    let queues = Resources::<SQSQueue>::new(&env.kube, &ns);
    let in_region = |region: &'static str| {
        let config = env.aws.clone();
        async move { Aws::placed(&config, region, None).await }
    };
    let default_region = env.aws.region().unwrap().to_string();

    // The namespace's region, and a resource's own over it.
    let (by_ns, by_res) = (format!("{ns}-ns"), format!("{ns}-res"));
    queues
        .create(&by_ns, serde_json::json!({}), serde_json::json!({}))
        .await;
    queues
        .create(
            &by_res,
            serde_json::json!({}),
            serde_json::json!({ REGION: "ap-southeast-2" }),
        )
        .await;
    for (name, region) in [(&by_ns, "eu-west-1"), (&by_res, "ap-southeast-2")] {
        let ready = queues.wait_ready(name).await;
        let status = ready.status.as_ref().unwrap();
        assert_eq!(status.region.as_deref(), Some(region), "{name}");
        assert!(
            status
                .arn
                .as_deref()
                .unwrap()
                .starts_with(&format!("arn:aws:sqs:{region}:")),
            "{:?}",
            status.arn
        );
        assert_eq!(in_region(region).await.queues_named(name).await.len(), 1);
        let default = Aws::placed(&env.aws, &default_region, None).await;
        assert!(
            default.queues_named(name).await.is_empty(),
            "{name} in {default_region}"
        );
    }

    // A topic's ARN, which the operator composes, names the region too.
    let topics = Resources::<SNSTopic>::new(&env.kube, &ns);
    let topic_name = format!("{ns}-t");
    topics
        .create(&topic_name, serde_json::json!({}), serde_json::json!({}))
        .await;
    let topic = topics.wait_ready(&topic_name).await;
    let arn = topic.status.as_ref().unwrap().arn.clone().unwrap();
    assert!(arn.starts_with("arn:aws:sns:eu-west-1:"), "{arn}");
    assert!(
        in_region("eu-west-1")
            .await
            .topic_arns(&topic_name)
            .await
            .contains(&arn)
    );

    // Moving a placed resource is refused, and nothing is made where it points.
    queues.annotate(&by_ns, REGION, "us-west-2").await;
    let refused = wait_until(Duration::from_secs(30), || async {
        let q = queues.api.get(&by_ns).await.unwrap();
        condition(&q, "Terminal").filter(|c| c.reason == "RegionChanged")
    })
    .await
    .expect("a region change is refused with RegionChanged");
    assert!(refused.message.contains("eu-west-1"), "{}", refused.message);
    assert!(
        in_region("us-west-2")
            .await
            .queues_named(&by_ns)
            .await
            .is_empty()
    );
    // Put back, it is managed again.
    queues.annotate(&by_ns, REGION, "eu-west-1").await;
    wait_until(Duration::from_secs(30), || async {
        let q = queues.api.get(&by_ns).await.unwrap();
        (condition(&q, "Terminal").is_none() && e2e::is_ready(&q)).then_some(())
    })
    .await
    .expect("Ready again once the region is restored");

    // A malformed region is refused before any call.
    let bad = format!("{ns}-bad");
    queues
        .create(
            &bad,
            serde_json::json!({}),
            serde_json::json!({ REGION: "mars-north" }),
        )
        .await;
    let invalid = wait_until(Duration::from_secs(30), || async {
        let q = queues.api.get(&bad).await.unwrap();
        condition(&q, "Terminal").filter(|c| c.reason == "InvalidRegion")
    })
    .await
    .expect("a malformed region is refused with InvalidRegion");
    assert!(
        invalid.message.contains("mars-north"),
        "{}",
        invalid.message
    );

    // Deleted where they live, even with a changed annotation.
    queues.annotate(&by_res, REGION, "us-west-2").await;
    for name in [&by_ns, &by_res, &bad] {
        queues.api.delete(name, &Default::default()).await.unwrap();
        wait_gone(&queues.api, name, Duration::from_secs(30)).await;
    }
    assert!(
        in_region("eu-west-1")
            .await
            .queues_named(&by_ns)
            .await
            .is_empty()
    );
    assert!(
        in_region("ap-southeast-2")
            .await
            .queues_named(&by_res)
            .await
            .is_empty()
    );
    topics
        .api
        .delete(&topic_name, &Default::default())
        .await
        .unwrap();
    wait_gone(&topics.api, &topic_name, Duration::from_secs(30)).await;
}
