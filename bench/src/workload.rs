//! The benchmark's mix, as in AWS's own scale test of its controllers: for every topic, two
//! queues and two subscriptions, each subscription wiring one queue to the topic by name.

use kube::api::{ApiResource, DynamicObject};
use serde_json::json;

pub const GROUP_VERSION: &str = "service-operator.aws/v1alpha1";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Topic,
    Queue,
    Subscription,
}

impl Kind {
    pub const ALL: [Kind; 3] = [Kind::Topic, Kind::Queue, Kind::Subscription];

    pub fn api_resource(self) -> ApiResource {
        let (kind, plural) = match self {
            Kind::Topic => ("SNSTopic", "snstopics"),
            Kind::Queue => ("SQSQueue", "sqsqueues"),
            Kind::Subscription => ("SNSSubscription", "snssubscriptions"),
        };
        ApiResource {
            group: "service-operator.aws".into(),
            version: "v1alpha1".into(),
            api_version: GROUP_VERSION.into(),
            kind: kind.into(),
            plural: plural.into(),
        }
    }
}

/// One resource of the workload.
#[derive(Debug, Clone)]
pub struct Item {
    pub kind: Kind,
    pub name: String,
    pub object: DynamicObject,
}

/// `count` resources in the ratio 1 topic : 2 queues : 2 subscriptions, interleaved so that
/// subscriptions are applied before or alongside what they refer to, as a user's apply would.
pub fn items(prefix: &str, count: usize) -> Vec<Item> {
    let groups = count.div_ceil(5);
    let mut out = Vec::with_capacity(groups * 5);
    for g in 0..groups {
        let topic = format!("{prefix}-t{g}");
        for q in 0..2 {
            let queue = format!("{prefix}-q{g}-{q}");
            out.push(item(
                Kind::Subscription,
                &format!("{prefix}-s{g}-{q}"),
                json!({
                    "topicName": topic, "protocol": "sqs", "endpoint": queue,
                }),
            ));
            out.push(item(Kind::Queue, &queue, json!({})));
        }
        out.push(item(Kind::Topic, &topic, json!({})));
    }
    out.truncate(count);
    out
}

fn item(kind: Kind, name: &str, spec: serde_json::Value) -> Item {
    let mut object = DynamicObject::new(name, &kind.api_resource());
    object.data = json!({ "spec": spec });
    Item {
        kind,
        name: name.to_owned(),
        object,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mix_is_one_topic_two_queues_two_subscriptions() {
        let items = items("b", 1000);
        let count = |k| items.iter().filter(|i| i.kind == k).count();
        assert_eq!(
            (
                count(Kind::Topic),
                count(Kind::Queue),
                count(Kind::Subscription)
            ),
            (200, 400, 400)
        );
    }
}
