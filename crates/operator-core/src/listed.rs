//! A flag that opens once, when a watch has its first complete list: until then, a missing entry
//! in what it feeds means "not known yet", not "absent".

use std::sync::Arc;

#[derive(Clone, Debug)]
pub struct Listed(Arc<tokio::sync::watch::Sender<bool>>);

impl Default for Listed {
    fn default() -> Self {
        Self(Arc::new(tokio::sync::watch::Sender::new(false)))
    }
}

impl Listed {
    pub fn is_done(&self) -> bool {
        *self.0.borrow()
    }

    pub fn open(&self) {
        self.0.send_replace(true);
    }
}
