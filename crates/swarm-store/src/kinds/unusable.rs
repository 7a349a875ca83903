//! A store that cannot be used in this process (its credentials are missing): every operation
//! says why, as unavailable, so one misconfigured store does not stop a swarm that can do
//! without it.

use bytes::Bytes;
use swarm_core::ids::StoreId;

use crate::error::{StoreError, Unavailable};
use crate::object::{Class, Listing, Object, ObjectMeta};
use crate::store::{BoxFut, Health, StoreAdmin, StoreRead};

#[derive(Debug)]
pub struct Unusable {
    id: StoreId,
    kind: &'static str,
    why: Unavailable,
}

impl Unusable {
    pub fn new(id: StoreId, kind: &'static str, why: Unavailable) -> Self {
        Unusable { id, kind, why }
    }

    fn fail<'a, T: Send + 'a>(&self) -> BoxFut<'a, Result<T, StoreError>> {
        let e = StoreError::Unavailable {
            store: self.id.clone(),
            why: self.why.clone(),
        };
        Box::pin(async move { Err(e) })
    }
}

impl StoreRead for Unusable {
    fn id(&self) -> &StoreId {
        &self.id
    }
    fn kind(&self) -> &'static str {
        self.kind
    }
    fn read<'a>(&'a self, _: &'a Object, _: u64) -> BoxFut<'a, Result<Bytes, StoreError>> {
        self.fail()
    }
    fn read_range<'a>(
        &'a self,
        _: &'a Object,
        _: u64,
        _: u64,
    ) -> BoxFut<'a, Result<Bytes, StoreError>> {
        self.fail()
    }
    fn stat<'a>(&'a self, _: &'a Object) -> BoxFut<'a, Result<Option<ObjectMeta>, StoreError>> {
        self.fail()
    }
    fn health(&self) -> Health {
        Health::Down(self.why.clone())
    }
}

impl StoreAdmin for Unusable {
    fn write<'a>(&'a self, _: &'a Object, _: Bytes) -> BoxFut<'a, Result<(), StoreError>> {
        self.fail()
    }
    fn touch<'a>(&'a self, _: &'a Object) -> BoxFut<'a, Result<(), StoreError>> {
        self.fail()
    }
    fn delete<'a>(&'a self, _: &'a Object) -> BoxFut<'a, Result<(), StoreError>> {
        self.fail()
    }
    fn list(&self, _: Class) -> BoxFut<'_, Result<Listing, StoreError>> {
        self.fail()
    }
    fn create(&self) -> BoxFut<'_, Result<(), StoreError>> {
        self.fail()
    }
    fn check(&self) -> BoxFut<'_, Result<(), StoreError>> {
        self.fail()
    }
}
