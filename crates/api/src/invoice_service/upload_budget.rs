//! [`UploadBudget`]: how much of the process's memory uploads may hold, and how many uploads
//! each person may have in flight. An upload is held whole until it is stored, so without a
//! bound a few people sending large files at once take the process down.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use uuid::Uuid;

/// Why an upload cannot go on now: the client gets `RESOURCE_EXHAUSTED` and may retry later.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exhausted {
    /// This person already has `max` uploads in flight.
    InFlight { max: usize },
    /// Uploads in flight across the process already hold what the budget allows.
    Buffer { max: usize },
}

impl std::fmt::Display for Exhausted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::InFlight { max } => {
                write!(f, "at most {max} uploads at once per person; retry when one has finished")
            }
            Self::Buffer { max } => {
                write!(f, "the server holds {max} bytes of uploads at most and is full; retry later")
            }
        }
    }
}

/// The process-wide byte budget and the per-person count of uploads in flight. Cheap to
/// share: every call to UploadInvoice takes an [`UploadTicket`] from the same one.
#[derive(Debug)]
pub struct UploadBudget {
    max_bytes: usize,
    used: AtomicUsize,
    per_user: usize,
    in_flight: Mutex<HashMap<Uuid, usize>>,
}

impl UploadBudget {
    /// `max_bytes` buffered across the process; `per_user` uploads in flight per person.
    pub fn new(max_bytes: usize, per_user: usize) -> Arc<Self> {
        Arc::new(Self { max_bytes, used: AtomicUsize::new(0), per_user, in_flight: Mutex::new(HashMap::new()) })
    }

    /// Takes one of `user`'s upload slots, released when the ticket is dropped: when the call
    /// ends, however it ends.
    pub fn begin(self: &Arc<Self>, user: Uuid) -> Result<UploadTicket, Exhausted> {
        let mut in_flight = self.in_flight.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let count = in_flight.entry(user).or_insert(0);
        if *count >= self.per_user {
            return Err(Exhausted::InFlight { max: self.per_user });
        }
        *count += 1;
        Ok(UploadTicket { budget: self.clone(), user, reserved: 0 })
    }

    /// Bytes held by uploads in flight now.
    pub fn used(&self) -> usize {
        self.used.load(Ordering::Acquire)
    }

    fn try_reserve(&self, bytes: usize) -> Result<(), Exhausted> {
        self.used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                used.checked_add(bytes).filter(|total| *total <= self.max_bytes)
            })
            .map(|_| ())
            .map_err(|_| Exhausted::Buffer { max: self.max_bytes })
    }

    fn release(&self, bytes: usize) {
        self.used.fetch_sub(bytes, Ordering::AcqRel);
    }
}

/// One upload in flight: its slot, and the bytes it holds of the budget.
#[derive(Debug)]
pub struct UploadTicket {
    budget: Arc<UploadBudget>,
    user: Uuid,
    reserved: usize,
}

impl UploadTicket {
    /// Reserves `bytes` more before they are held; refused when the budget cannot take them.
    pub fn reserve(&mut self, bytes: usize) -> Result<(), Exhausted> {
        self.budget.try_reserve(bytes)?;
        self.reserved += bytes;
        Ok(())
    }

    /// Gives back `bytes` that are no longer held.
    pub fn release(&mut self, bytes: usize) {
        let bytes = bytes.min(self.reserved);
        self.budget.release(bytes);
        self.reserved -= bytes;
    }
}

impl Drop for UploadTicket {
    fn drop(&mut self) {
        self.budget.release(self.reserved);
        let mut in_flight = self.budget.in_flight.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(count) = in_flight.get_mut(&self.user) {
            *count -= 1;
            if *count == 0 {
                in_flight.remove(&self.user);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_person_has_at_most_their_slots_and_gets_them_back_when_a_ticket_drops() {
        let budget = UploadBudget::new(1000, 2);
        let (ana, ben) = (Uuid::now_v7(), Uuid::now_v7());
        let first = budget.begin(ana).unwrap();
        let _second = budget.begin(ana).unwrap();
        assert_eq!(budget.begin(ana).unwrap_err(), Exhausted::InFlight { max: 2 });
        let _bens = budget.begin(ben).expect("slots are per person");
        drop(first);
        budget.begin(ana).expect("a slot came back");
    }

    #[test]
    fn bytes_are_reserved_within_the_budget_and_released_however_the_upload_ends() {
        let budget = UploadBudget::new(100, 10);
        let mut one = budget.begin(Uuid::now_v7()).unwrap();
        let mut two = budget.begin(Uuid::now_v7()).unwrap();
        one.reserve(60).unwrap();
        assert_eq!(two.reserve(41).unwrap_err(), Exhausted::Buffer { max: 100 });
        two.reserve(40).unwrap();
        assert_eq!(budget.used(), 100);
        one.release(10);
        assert_eq!(budget.used(), 90);
        drop(one);
        assert_eq!(budget.used(), 40);
        drop(two);
        assert_eq!(budget.used(), 0);
        assert!(budget.in_flight.lock().unwrap().is_empty(), "no entry is kept for people with nothing in flight");
    }
}
