//! A flag that opens once, when a watch cache has its first complete list: until then, a missing
//! entry means "not known yet", not "absent".

use std::sync::Arc;

use kube::runtime::watcher;

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

    /// Opens the gate at the watch's first `InitDone`; for `Stream::inspect`.
    pub fn observe<K>(&self, event: &Result<watcher::Event<K>, watcher::Error>) {
        if matches!(event, Ok(watcher::Event::InitDone)) {
            self.open();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::ConfigMap;

    #[test]
    fn opens_at_the_first_complete_list_and_stays_open() {
        let listed = Listed::default();
        let clone = listed.clone();
        clone.observe::<ConfigMap>(&Ok(watcher::Event::Init));
        clone.observe(&Ok(watcher::Event::InitApply(ConfigMap::default())));
        assert!(!listed.is_done());
        clone.observe::<ConfigMap>(&Ok(watcher::Event::InitDone));
        assert!(listed.is_done());
        clone.observe::<ConfigMap>(&Ok(watcher::Event::Init));
        assert!(listed.is_done(), "a relist keeps the previous state usable");
    }
}
