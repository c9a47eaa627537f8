//! Queue names: the `.fifo` suffix AWS requires of FIFO queues, and the dead-letter queue's name.

/// SQS's limit on queue names, `.fifo` included.
const MAX_NAME: usize = 80;
const FIFO: &str = ".fifo";
const DLQ: &str = "-dlq";

/// `base`, with the `.fifo` suffix a FIFO queue's name must carry.
pub fn queue_name(base: &str, fifo: bool) -> String {
    if fifo && !base.ends_with(FIFO) {
        format!("{base}{FIFO}")
    } else {
        base.to_owned()
    }
}

/// `<queue>-dlq` (`<queue>-dlq.fifo` for FIFO), the base shortened to stay within SQS's limit.
pub fn dead_letter_queue_name(queue: &str) -> String {
    let (base, suffix) = match queue.strip_suffix(FIFO) {
        Some(base) => (base, FIFO),
        None => (queue, ""),
    };
    let keep = MAX_NAME - DLQ.len() - suffix.len();
    let base: String = base.chars().take(keep).collect();
    format!("{base}{DLQ}{suffix}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fifo_queues_end_in_fifo_once() {
        assert_eq!(queue_name("orders", false), "orders");
        assert_eq!(queue_name("orders", true), "orders.fifo");
        assert_eq!(queue_name("orders.fifo", true), "orders.fifo");
    }

    #[test]
    fn dead_letter_queue_keeps_the_fifo_suffix_last() {
        assert_eq!(dead_letter_queue_name("orders"), "orders-dlq");
        assert_eq!(dead_letter_queue_name("orders.fifo"), "orders-dlq.fifo");
    }

    #[test]
    fn dead_letter_queue_name_stays_within_the_limit() {
        let long = "q".repeat(80);
        assert_eq!(dead_letter_queue_name(&long).len(), 80);
        let long_fifo = format!("{}.fifo", "q".repeat(75));
        let dlq = dead_letter_queue_name(&long_fifo);
        assert_eq!(dlq.len(), 80);
        assert!(dlq.ends_with("-dlq.fifo"));
    }
}
