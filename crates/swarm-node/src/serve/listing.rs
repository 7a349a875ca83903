//! `List`: a class's listing, one page per request.

use swarm_wire::{Class, Cursor, Entry, Failure, PageBuilder, PageLimit, Response, Text};

use super::Shared;
use crate::convert::{meta_to_wire, to_wire};
use crate::identity::NodeId;

impl Shared {
    /// One page of a listing. Entries are ordered by the BLAKE3 of their path, and the cursor
    /// is the last one's: stateless, so a listing survives a reconnection, and 32 bytes
    /// whatever the path. (Each page lists the class again: fine for a first version; a node
    /// with millions of shards will want an index.)
    pub(super) async fn list(
        &self,
        peer: &NodeId,
        class: Class,
        after: Option<Cursor>,
        limit: PageLimit,
    ) -> Response {
        let after: Option<[u8; 32]> = match after.map(|c| <[u8; 32]>::try_from(c.as_bytes())) {
            None => None,
            Some(Ok(c)) => Some(c),
            Some(Err(_)) => {
                return Response::Failed(Failure::bad_request("not a cursor this node gave"));
            }
        };
        let listing = match self.store.list(store_class(class)).await {
            Ok(l) => l,
            Err(e) => return self.failed(peer, "list", &e),
        };
        let mut entries: Vec<([u8; 32], Entry)> = listing
            .objects
            .into_iter()
            .map(|l| {
                let path = l.object.to_string();
                let entry = match to_wire(&l.object) {
                    Some(object) => Entry::Object {
                        object,
                        meta: meta_to_wire(&l.meta),
                    },
                    None => Entry::Stray(Text::cut(&path)),
                };
                (sort_key(&path), entry)
            })
            .chain(
                listing
                    .strays
                    .into_iter()
                    .map(|p| (sort_key(&p), Entry::Stray(Text::cut(&p)))),
            )
            .filter(|(k, _)| after.is_none_or(|a| *k > a))
            .collect();
        entries.sort_unstable_by_key(|e| e.0);
        let total = entries.len();
        let mut page = PageBuilder::new(limit);
        let mut last = None;
        for (key, entry) in entries {
            if page.push(entry).is_err() {
                break;
            }
            last = Some(key);
        }
        let next = match last {
            Some(key) if page.len() < total => Cursor::new(key.to_vec()).ok(),
            _ => None,
        };
        Response::Page(page.finish(next))
    }
}

fn sort_key(path: &str) -> [u8; 32] {
    *blake3::hash(path.as_bytes()).as_bytes()
}

fn store_class(class: Class) -> swarm_store::Class {
    match class {
        Class::Manifests => swarm_store::Class::Manifests,
        Class::Shards => swarm_store::Class::Shards,
        Class::Staging => swarm_store::Class::Staging,
        Class::Locks => swarm_store::Class::Locks,
    }
}
