//! Where a resource lives in AWS: its region (the resource's annotation, else its namespace's,
//! else `--aws-region`) and its account (the role its namespace names, else the operator's own
//! identity). Once recorded in status, neither may change: it would be another resource.

use std::collections::BTreeMap;

/// The region of one resource, or of every resource in a namespace.
pub const REGION: &str = "service-operator.aws/region";
/// On a namespace only: the IAM role the operator assumes for every resource in it.
pub const ROLE_ARN: &str = "service-operator.aws/role-arn";

/// The region and credentials one resource's AWS calls use.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Placement {
    pub region: String,
    /// `None`: the operator's own identity.
    pub role_arn: Option<String>,
}

impl Placement {
    /// The account a role belongs to, read from its ARN (`arn:aws:iam::123456789012:role/x`).
    pub fn role_account(&self) -> Option<&str> {
        self.role_arn.as_deref().and_then(account_of_role)
    }
}

/// Why a resource cannot be placed: a bad annotation, or a place other than the recorded one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    pub reason: &'static str,
    pub message: String,
}

/// The placement `resource`'s annotations and its namespace's ask for.
pub fn place(
    resource: &BTreeMap<String, String>,
    namespace: &BTreeMap<String, String>,
    default_region: &str,
) -> Result<Placement, Refused> {
    let region = match (resource.get(REGION), namespace.get(REGION)) {
        (Some(r), _) => checked_region(r, "the resource's")?,
        (None, Some(r)) => checked_region(r, "the namespace's")?,
        (None, None) => default_region.to_owned(),
    };
    let role_arn = match namespace.get(ROLE_ARN).map(|r| r.trim()) {
        None | Some("") => None,
        Some(role) if account_of_role(role).is_some() => Some(role.to_owned()),
        Some(role) => {
            return Err(Refused {
                reason: "InvalidRoleArn",
                message: format!(
                    "the namespace's {ROLE_ARN} {role:?} is not an IAM role ARN \
                     (arn:aws:iam::<account>:role/<name>)"
                ),
            });
        }
    };
    Ok(Placement { region, role_arn })
}

/// Refuses a placement other than the one status records (region and account id).
pub fn unmoved(
    recorded_region: Option<&str>,
    recorded_account: Option<&str>,
    region: &str,
    account: Option<&str>,
) -> Result<(), Refused> {
    if let Some(before) = recorded_region
        && before != region
    {
        return Err(Refused {
            reason: "RegionChanged",
            message: format!(
                "the resource was created in region {before}; its placement now says {region}. \
                 Moving it would make another resource: restore {REGION} (or delete the \
                 resource and create it anew)"
            ),
        });
    }
    if let (Some(before), Some(now)) = (recorded_account, account)
        && before != now
    {
        return Err(Refused {
            reason: "AccountChanged",
            message: format!(
                "the resource was created in account {before}; its namespace's {ROLE_ARN} now \
                 leads to account {now}. Restore the role (or delete the resource and create it \
                 anew)"
            ),
        });
    }
    Ok(())
}

/// `arn:<partition>:iam::<12 digits>:role/<path and name>` → the account.
pub fn account_of_role(arn: &str) -> Option<&str> {
    let mut parts = arn.splitn(6, ':');
    let (Some("arn"), Some(_partition), Some("iam"), Some(""), Some(account), Some(resource)) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return None;
    };
    let named = resource
        .strip_prefix("role/")
        .is_some_and(|n| !n.is_empty());
    (account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit()) && named).then_some(account)
}

/// A region name as AWS spells them: `us-east-1`, `ap-southeast-2`, `us-gov-west-1`.
fn checked_region(region: &str, whose: &str) -> Result<String, Refused> {
    let parts: Vec<&str> = region.split('-').collect();
    let well_formed = parts.len() >= 3
        && parts[..parts.len() - 1]
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase()))
        && parts[parts.len() - 1].bytes().all(|b| b.is_ascii_digit())
        && !parts[parts.len() - 1].is_empty();
    if well_formed {
        Ok(region.to_owned())
    } else {
        Err(Refused {
            reason: "InvalidRegion",
            message: format!(
                "{whose} {REGION} {region:?} is not an AWS region name (e.g. eu-west-1)"
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn the_resource_beats_the_namespace_which_beats_the_flag() {
        let ns = map(&[(REGION, "eu-west-1")]);
        let res = map(&[(REGION, "ap-southeast-2")]);
        assert_eq!(
            place(&res, &ns, "us-east-1").unwrap().region,
            "ap-southeast-2"
        );
        assert_eq!(
            place(&map(&[]), &ns, "us-east-1").unwrap().region,
            "eu-west-1"
        );
        let p = place(&map(&[]), &map(&[]), "us-east-1").unwrap();
        assert_eq!(
            p,
            Placement {
                region: "us-east-1".into(),
                role_arn: None
            }
        );
    }

    #[test]
    fn the_role_comes_from_the_namespace_only() {
        let role = "arn:aws:iam::111111111111:role/team-a";
        let p = place(&map(&[]), &map(&[(ROLE_ARN, role)]), "us-east-1").unwrap();
        assert_eq!(p.role_arn.as_deref(), Some(role));
        assert_eq!(p.role_account(), Some("111111111111"));
        let p = place(&map(&[(ROLE_ARN, role)]), &map(&[]), "us-east-1").unwrap();
        assert_eq!(p.role_arn, None);
    }

    #[test]
    fn bad_annotations_are_refused_with_their_reason() {
        for bad in [
            "us_east_1",
            "useast1",
            "us-east",
            "US-EAST-1",
            "us-east-1a",
            "",
        ] {
            let err = place(&map(&[(REGION, bad)]), &map(&[]), "us-east-1").unwrap_err();
            assert_eq!(err.reason, "InvalidRegion", "{bad}");
        }
        assert!(place(&map(&[(REGION, "us-gov-west-1")]), &map(&[]), "x").is_ok());
        for bad in [
            "team-a",
            "arn:aws:iam::1111:role/x",
            "arn:aws:iam::111111111111:user/x",
            "arn:aws:iam::111111111111:role/",
            "arn:aws:sts::111111111111:role/x",
        ] {
            let err = place(&map(&[]), &map(&[(ROLE_ARN, bad)]), "us-east-1").unwrap_err();
            assert_eq!(err.reason, "InvalidRoleArn", "{bad}");
        }
        assert_eq!(
            account_of_role("arn:aws-cn:iam::222222222222:role/path/to/r"),
            Some("222222222222")
        );
    }

    #[test]
    fn a_recorded_region_or_account_cannot_change() {
        assert!(unmoved(None, None, "eu-west-1", Some("1")).is_ok());
        assert!(unmoved(Some("eu-west-1"), Some("1"), "eu-west-1", Some("1")).is_ok());
        let moved = unmoved(Some("eu-west-1"), None, "us-east-1", None).unwrap_err();
        assert_eq!(moved.reason, "RegionChanged");
        assert!(moved.message.contains("eu-west-1") && moved.message.contains("us-east-1"));
        let moved = unmoved(None, Some("1"), "x", Some("2")).unwrap_err();
        assert_eq!(moved.reason, "AccountChanged");
        // An account not known now (STS unreachable at start) is not a move.
        assert!(unmoved(None, Some("1"), "x", None).is_ok());
    }
}
