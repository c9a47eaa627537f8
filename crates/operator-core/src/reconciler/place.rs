//! Which region and account one resource's AWS calls go to, and the kind's client there.

use kube::ResourceExt;

use super::{Context, Error};
use crate::{
    placement::{self, Placement, Refused},
    resource::AwsResource,
    status::ResourceStatus,
};

/// A resource's placement, the account it leads to, and the kind's client for it.
pub(super) struct Placed<C> {
    pub placement: Placement,
    pub account: Option<String>,
    pub client: C,
}

impl<C> Placed<C> {
    /// Records where the resource lives, as every status written for it must.
    pub fn record<F>(&self, status: &mut ResourceStatus<F>) {
        status.region = Some(self.placement.region.clone());
        status.account_id = self.account.clone().or(status.account_id.take());
    }
}

/// Places `obj` as its annotations and its namespace's ask. Refused when they are malformed or
/// lead elsewhere than status records. During deletion the recorded region wins over the
/// annotations: that is where the AWS resource is.
pub(super) async fn placed<K: AwsResource>(
    obj: &K,
    ctx: &Context<K>,
    deleting: bool,
) -> Result<Result<Placed<K::Client>, Refused>, Error> {
    if !ctx.namespaces.listed.is_done() {
        return Err(Error::Unlisted(
            "waiting for the first list of namespaces".into(),
        ));
    }
    let namespace = ctx
        .namespaces
        .annotations(&obj.namespace().unwrap_or_default());
    let (recorded_region, recorded_account) = recorded(obj.status());
    let default_region = &ctx.aws.default_placement().region;
    let mut placement = match placement::place(obj.annotations(), &namespace, default_region) {
        Ok(p) => p,
        // A malformed region annotation does not keep a deletion from where the resource is.
        Err(refused) if deleting && refused.reason == "InvalidRegion" => {
            match placement::place(&Default::default(), &namespace, default_region) {
                Ok(p) => p,
                Err(refused) => return Ok(Err(refused)),
            }
        }
        Err(refused) => return Ok(Err(refused)),
    };
    if deleting && let Some(region) = &recorded_region {
        placement.region.clone_from(region);
    }
    let account = ctx.aws.account_of(&placement);
    if let Err(refused) = placement::unmoved(
        recorded_region.as_deref(),
        recorded_account.as_deref(),
        &placement.region,
        account.as_deref(),
    ) {
        return Ok(Err(refused));
    }
    let client = ctx.client(&placement).await;
    Ok(Ok(Placed {
        placement,
        account,
        client,
    }))
}

/// The region and account status records; for a resource placed before they were recorded,
/// read from its ARN (`arn:aws:sqs:eu-west-1:123456789012:orders`; S3's carry neither).
fn recorded<F>(status: Option<&ResourceStatus<F>>) -> (Option<String>, Option<String>) {
    let Some(status) = status else {
        return (None, None);
    };
    let from_arn = |field: usize| {
        status
            .arn
            .as_deref()
            .and_then(|arn| arn.split(':').nth(field))
            .filter(|f| !f.is_empty())
            .map(str::to_owned)
    };
    (
        status.region.clone().or_else(|| from_arn(3)),
        status.account_id.clone().or_else(|| from_arn(4)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_records_the_place_or_the_arn_tells_it() {
        let mut status = ResourceStatus::<()>::default();
        assert_eq!(recorded(Some(&status)), (None, None));
        status.arn = Some("arn:aws:sqs:eu-west-1:123456789012:orders".into());
        assert_eq!(
            recorded(Some(&status)),
            (Some("eu-west-1".into()), Some("123456789012".into()))
        );
        status.arn = Some("arn:aws:s3:::my-bucket".into());
        assert_eq!(recorded(Some(&status)), (None, None));
        status.region = Some("us-west-2".into());
        status.account_id = Some("000000000000".into());
        assert_eq!(
            recorded(Some(&status)),
            (Some("us-west-2".into()), Some("000000000000".into()))
        );
    }
}
