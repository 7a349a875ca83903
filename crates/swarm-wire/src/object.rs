//! Objects of a store as the wire names them: the same objects as the store layout
//! (`docs/spec/store-layout-v1.md`), spelled independently of `swarm-store` so that this crate
//! depends on nothing of ours. A peer store converts between the two.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::MAX_MESSAGE;
use crate::bounded::{Blob, BoundError, BoundedVec, PlainName, Text};

/// Most entries on one page of a listing, and the largest `limit` a `List` may ask for.
pub const MAX_PAGE: usize = 1000;
/// Longest listing cursor.
pub const MAX_CURSOR: usize = 256;
/// Longest stray path on a page.
pub const MAX_STRAY: usize = 1024;

/// One object of a store.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ObjectName {
    /// `annex-swarm-store.toml`.
    Marker,
    /// A key's manifest, by its name (`BLAKE3-derive-key("annex-swarm manifest name v1", key)`).
    Manifest([u8; 32]),
    /// A shard, by the BLAKE3 of its bytes.
    Shard([u8; 32]),
    /// A staged write under `tmp/`, as a listing found it.
    Staging(PlainName),
    /// A lock record under `locks/`.
    Lock(PlainName),
}

impl ObjectName {
    /// The class a listing finds this object in (`None` for the marker).
    pub fn class(&self) -> Option<Class> {
        match self {
            ObjectName::Marker => None,
            ObjectName::Manifest(_) => Some(Class::Manifests),
            ObjectName::Shard(_) => Some(Class::Shards),
            ObjectName::Staging(_) => Some(Class::Staging),
            ObjectName::Lock(_) => Some(Class::Locks),
        }
    }
}

/// The directories of objects a listing walks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Class {
    Manifests,
    Shards,
    Staging,
    Locks,
}

/// What a store knows of one object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Meta {
    /// Bytes.
    pub size: u64,
    /// Last modification (or touch), in nanoseconds since 1970-01-01 UTC; 0 for anything earlier.
    pub modified_ns: u64,
}

impl Meta {
    /// `modified` before 1970 becomes 0; after 2554 (past u64 nanoseconds), the largest time.
    pub fn new(size: u64, modified: SystemTime) -> Self {
        let modified_ns = modified
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
        Meta { size, modified_ns }
    }

    pub fn modified(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_nanos(self.modified_ns)
    }
}

/// One entry of a listing page.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Entry {
    /// An object of the class listed.
    Object { object: ObjectName, meta: Meta },
    /// Something else found there, by its path relative to the store: never an object.
    Stray(Text<MAX_STRAY>),
}

/// Where a listing goes on: the node's, passed back unchanged (at most [`MAX_CURSOR`] bytes).
pub type Cursor = Blob<MAX_CURSOR>;

/// The `limit` of a `List` request: 1 to [`MAX_PAGE`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct PageLimit(u32);

impl PageLimit {
    /// The largest page.
    pub const MAX: PageLimit = PageLimit(MAX_PAGE as u32);

    pub fn new(limit: u32) -> Result<Self, BoundError> {
        if limit == 0 || limit as usize > MAX_PAGE {
            return Err(BoundError::TooLong {
                what: "page limit",
                len: limit as usize,
                max: MAX_PAGE,
            });
        }
        Ok(PageLimit(limit))
    }

    pub fn get(&self) -> u32 {
        self.0
    }
}

impl<'de> Deserialize<'de> for PageLimit {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        PageLimit::new(u32::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

/// One page of a listing.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Page {
    pub entries: BoundedVec<Entry, MAX_PAGE>,
    /// `None`: the listing is complete. Otherwise the page holds at least one entry.
    pub next: Option<Cursor>,
}

/// Bytes of a `Page` response that are not entries, at most: the response's index, the
/// entries' count, the cursor's option byte, length and bytes.
const PAGE_OVERHEAD: usize = 1 + 2 + 1 + 2 + MAX_CURSOR;

/// Fills a page up to the request's limit and to what one message frame holds, so a node never
/// builds a page it cannot send.
#[derive(Debug, Clone)]
pub struct PageBuilder {
    entries: Vec<Entry>,
    limit: usize,
    room: usize,
}

impl PageBuilder {
    pub fn new(limit: PageLimit) -> Self {
        PageBuilder {
            entries: Vec::new(),
            limit: limit.get() as usize,
            room: MAX_MESSAGE - PAGE_OVERHEAD,
        }
    }

    /// Adds an entry; gives it back when the page is full (by count or by size): it goes first
    /// on the next page.
    pub fn push(&mut self, entry: Entry) -> Result<(), Entry> {
        let size = postcard::experimental::serialized_size(&entry).unwrap_or(usize::MAX);
        if self.entries.len() >= self.limit || size > self.room {
            return Err(entry);
        }
        self.room -= size;
        self.entries.push(entry);
        Ok(())
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The page, with `next` where the listing goes on (`None` when it is complete).
    pub fn finish(self, next: Option<Cursor>) -> Page {
        Page {
            // `limit` is at most MAX_PAGE, so this never truncates.
            entries: BoundedVec::new(self.entries).unwrap_or_default(),
            next,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn times_survive_the_wire_and_clamp() {
        let t = UNIX_EPOCH + Duration::new(1_764_892_800, 123_456_789);
        assert_eq!(Meta::new(5, t).modified(), t);
        assert_eq!(
            Meta::new(5, UNIX_EPOCH - Duration::from_secs(1)).modified_ns,
            0
        );
    }

    #[test]
    fn page_limits() {
        assert!(PageLimit::new(0).is_err());
        assert!(PageLimit::new(1001).is_err());
        assert_eq!(PageLimit::new(1000).unwrap(), PageLimit::MAX);
        let zero = postcard::to_allocvec(&0u32).unwrap();
        assert!(postcard::from_bytes::<PageLimit>(&zero).is_err());
    }

    #[test]
    fn a_page_stops_at_its_limit_or_at_the_frame() {
        let stray = Entry::Stray(Text::new("x".repeat(MAX_STRAY)).unwrap());
        let mut b = PageBuilder::new(PageLimit::MAX);
        while b.push(stray.clone()).is_ok() {}
        assert_eq!(b.len(), 63);
        let page = crate::Response::Page(b.finish(Some(Cursor::new(vec![9; MAX_CURSOR]).unwrap())));
        let frame = crate::Frame::Message(page).encode().unwrap();
        assert!(frame.len() <= crate::HEADER_LEN + MAX_MESSAGE);

        let mut b = PageBuilder::new(PageLimit::new(2).unwrap());
        let shard = Entry::Object {
            object: ObjectName::Shard([1; 32]),
            meta: Meta::new(1, UNIX_EPOCH),
        };
        assert!(b.push(shard.clone()).is_ok() && b.push(shard.clone()).is_ok());
        assert_eq!(b.push(shard.clone()), Err(shard));
    }

    #[test]
    fn classes_of_objects() {
        assert_eq!(ObjectName::Marker.class(), None);
        assert_eq!(ObjectName::Shard([0; 32]).class(), Some(Class::Shards));
        let lock = ObjectName::Lock(PlainName::new("shared-00").unwrap());
        assert_eq!(lock.class(), Some(Class::Locks));
    }
}
