//! JSON documents held as strings (IAM, access, redrive, lifecycle policies): compared by meaning,
//! so formatting and key order are never a difference and never cause an update loop.

use serde_json::Value;

/// The document parsed; `None` for an empty string (no document).
pub fn parse(doc: &str) -> Option<Result<Value, String>> {
    let doc = doc.trim();
    (!doc.is_empty()).then(|| serde_json::from_str(doc).map_err(|_| doc.to_owned()))
}

/// Whether two documents say the same thing. Unparsable text is compared as text.
pub fn same(a: Option<&str>, b: Option<&str>) -> bool {
    a.and_then(parse) == b.and_then(parse)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formatting_and_key_order_do_not_matter() {
        let a = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sqs:SendMessage"}]}"#;
        let b = "{\n  \"Statement\": [ {\"Action\": \"sqs:SendMessage\", \"Effect\": \"Allow\"} ],\n  \"Version\": \"2012-10-17\"\n}";
        assert!(same(Some(a), Some(b)));
    }

    #[test]
    fn content_and_array_order_matter() {
        assert!(!same(Some(r#"{"a":[1,2]}"#), Some(r#"{"a":[2,1]}"#)));
        assert!(!same(Some(r#"{"a":1}"#), Some(r#"{"a":"1"}"#)));
    }

    #[test]
    fn empty_means_no_document() {
        assert!(same(Some(""), None));
        assert!(same(Some("  "), None));
        assert!(!same(Some("{}"), None));
    }

    #[test]
    fn invalid_json_is_compared_as_text() {
        assert!(same(Some("not json"), Some(" not json ")));
        assert!(!same(Some("not json"), Some("other")));
    }
}
