//! Storage for requests in flight, addressed by generation-checked ids.

use crate::event::RequestId;
use crate::request::RequestState;

#[derive(Debug)]
struct Slot {
    generation: u32,
    state: Option<RequestState>,
}

/// Requests by id. A slot's generation changes each time it is reused, so an id held by a
/// stale waiter (a request that timed out) never finds the slot's next occupant.
#[derive(Debug, Default)]
pub(super) struct Slab {
    slots: Vec<Slot>,
    free: Vec<u32>,
    len: usize,
}

fn split(id: RequestId) -> (usize, u32) {
    ((id.0 & 0xffff_ffff) as usize, (id.0 >> 32) as u32)
}

impl Slab {
    pub(super) fn insert(&mut self, state: RequestState) -> RequestId {
        self.len += 1;
        let index = match self.free.pop() {
            Some(index) => {
                let slot = &mut self.slots[index as usize];
                slot.generation = slot.generation.wrapping_add(1);
                slot.state = Some(state);
                index
            }
            None => {
                self.slots.push(Slot {
                    generation: 0,
                    state: Some(state),
                });
                (self.slots.len() - 1) as u32
            }
        };
        let generation = self.slots[index as usize].generation;
        RequestId(u64::from(generation) << 32 | u64::from(index))
    }

    pub(super) fn get(&self, id: RequestId) -> Option<&RequestState> {
        let (index, generation) = split(id);
        self.slots
            .get(index)
            .filter(|s| s.generation == generation)?
            .state
            .as_ref()
    }

    pub(super) fn get_mut(&mut self, id: RequestId) -> Option<&mut RequestState> {
        let (index, generation) = split(id);
        self.slots
            .get_mut(index)
            .filter(|s| s.generation == generation)?
            .state
            .as_mut()
    }

    pub(super) fn contains(&self, id: RequestId) -> bool {
        self.get(id).is_some()
    }

    pub(super) fn remove(&mut self, id: RequestId) -> Option<RequestState> {
        let (index, generation) = split(id);
        let slot = self
            .slots
            .get_mut(index)
            .filter(|s| s.generation == generation)?;
        let state = slot.state.take()?;
        self.free.push(index as u32);
        self.len -= 1;
        Some(state)
    }

    /// Like [`remove`](Self::remove), dropping the state where it lies: moving a state out
    /// copies all of it, which the hot path of a completion does not need.
    pub(super) fn discard(&mut self, id: RequestId) {
        let (index, generation) = split(id);
        if let Some(slot) = self
            .slots
            .get_mut(index)
            .filter(|s| s.generation == generation && s.state.is_some())
        {
            slot.state = None;
            self.free.push(index as u32);
            self.len -= 1;
        }
    }

    pub(super) fn len(&self) -> usize {
        self.len
    }

    pub(super) fn is_empty(&self) -> bool {
        self.len == 0
    }
}
