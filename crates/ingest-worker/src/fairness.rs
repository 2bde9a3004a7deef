//! Fair scheduling inside one worker. Each job family is consumed with several slots
//! (`INGEST_CONCURRENCY`), and one tenant may run at most `INGEST_TENANT_CONCURRENCY` of a
//! family's jobs at once. A tenant that hangs (every call running into the request time-out,
//! five tries each: about 2.6 minutes per job) then keeps at most its own share of the worker,
//! and every other tenant's jobs find a free slot.
//!
//! A job whose tenant is at its limit does not simply go away for a while: one such job per
//! tenant and type waits here for the tenant's slot (at most [`WAIT_FOR_SLOT`]) and starts the
//! moment it frees, so a single tenant's backfill runs back to back instead of idling through a
//! retry delay between jobs. Any further job of that tenant is handed back at once and offered
//! again after [`DEFER_AFTER`]; the waiter holds one consumer slot for a bounded time, so a
//! hanging tenant occupies at most its running jobs plus one briefly waiting one.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::Notify;

/// How long the one waiting job of a busy tenant waits for the tenant's slot before it is
/// handed back (it then holds a consumer slot no longer).
pub const WAIT_FOR_SLOT: Duration = Duration::from_secs(2);
/// How long a job handed back because its tenant is busy stays away before it is offered again.
/// Short: handing back costs one publish, and a long absence is what left a backfill idle.
pub const DEFER_AFTER: Duration = Duration::from_millis(500);

type Key = (i64, String);

#[derive(Default)]
struct Usage {
    running: usize,
    waiting: bool,
}

/// Jobs in flight on this worker per tenant and job type.
pub struct TenantSlots {
    limit: usize,
    usage: Mutex<HashMap<Key, Usage>>,
    /// Woken whenever a slot is given back; waiters look again.
    freed: Notify,
}

/// A taken slot; given back when dropped (also when the job panics).
pub struct Slot<'a> {
    slots: &'a TenantSlots,
    key: Key,
}

/// Why a job may not start now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Busy {
    /// Another job of the tenant already waits for its slot.
    AnotherWaits,
    /// This job waited [`WAIT_FOR_SLOT`] and the tenant's jobs are still running.
    WaitedInVain,
}

impl TenantSlots {
    /// `limit` jobs per tenant and type at once (at least 1).
    pub fn new(limit: usize) -> Self {
        Self {
            limit: limit.max(1),
            usage: Mutex::new(HashMap::new()),
            freed: Notify::new(),
        }
    }

    pub fn limit(&self) -> usize {
        self.limit
    }

    /// A slot for a job of `tenant` and `job_type`, or `None` while the tenant already has
    /// `limit` such jobs running here.
    pub fn try_take(&self, tenant: i64, job_type: &str) -> Option<Slot<'_>> {
        let key = (tenant, job_type.to_string());
        let mut usage = self.lock();
        let u = usage.entry(key.clone()).or_default();
        if u.running >= self.limit {
            return None;
        }
        u.running += 1;
        Some(Slot { slots: self, key })
    }

    /// A slot now, or as soon as one of the tenant's jobs ends within `wait` — for one job per
    /// tenant and type at a time; any other is refused at once.
    pub async fn take(
        &self,
        tenant: i64,
        job_type: &str,
        wait: Duration,
    ) -> Result<Slot<'_>, Busy> {
        if let Some(slot) = self.try_take(tenant, job_type) {
            return Ok(slot);
        }
        let key = (tenant, job_type.to_string());
        {
            let mut usage = self.lock();
            let u = usage.entry(key.clone()).or_default();
            if u.waiting {
                return Err(Busy::AnotherWaits);
            }
            u.waiting = true;
        }
        let _waiting = Waiting { slots: self, key };
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            // Registered before looking, so a slot freed in between is not missed.
            let freed = self.freed.notified();
            tokio::pin!(freed);
            freed.as_mut().enable();
            if let Some(slot) = self.try_take(tenant, job_type) {
                return Ok(slot);
            }
            if tokio::time::timeout_at(deadline, freed).await.is_err() {
                return Err(Busy::WaitedInVain);
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Key, Usage>> {
        self.usage.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn release(&self, key: &Key, f: impl FnOnce(&mut Usage)) {
        let mut usage = self.lock();
        if let Some(u) = usage.get_mut(key) {
            f(u);
            if u.running == 0 && !u.waiting {
                usage.remove(key);
            }
        }
    }
}

/// The mark of the one job waiting for its tenant's slot; cleared when the wait ends.
struct Waiting<'a> {
    slots: &'a TenantSlots,
    key: Key,
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.slots.release(&self.key, |u| u.waiting = false);
    }
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        self.slots
            .release(&self.key, |u| u.running = u.running.saturating_sub(1));
        self.slots.freed.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;

    #[test]
    fn a_tenant_gets_at_most_its_limit_and_others_are_not_affected() {
        let slots = TenantSlots::new(1);
        let a = slots
            .try_take(1, "messages_hot")
            .expect("first job of tenant 1");
        assert!(slots.try_take(1, "messages_hot").is_none());
        // Another tenant, or another family of the same tenant, is not held back.
        let _b = slots.try_take(2, "messages_hot").expect("tenant 2");
        let _c = slots.try_take(1, "payloads").expect("tenant 1's payloads");
        drop(a);
        assert!(slots.try_take(1, "messages_hot").is_some());
        let two = TenantSlots::new(2);
        let _x = two.try_take(1, "keystore").unwrap();
        let _y = two.try_take(1, "keystore").unwrap();
        assert!(two.try_take(1, "keystore").is_none());
        assert_eq!(TenantSlots::new(0).limit(), 1);
    }

    #[tokio::test]
    async fn the_waiting_job_starts_as_soon_as_the_slot_frees() {
        let slots = std::sync::Arc::new(TenantSlots::new(1));
        let running = slots.try_take(1, "messages_cold").unwrap();
        let started = Instant::now();
        let (took, _) = tokio::join!(
            async {
                let slot = slots
                    .take(1, "messages_cold", Duration::from_secs(10))
                    .await;
                (slot.is_ok(), started.elapsed())
            },
            async {
                tokio::time::sleep(Duration::from_millis(100)).await;
                // While one waits, a third job of the tenant is refused at once.
                let third = slots
                    .take(1, "messages_cold", Duration::from_secs(10))
                    .await;
                assert_eq!(third.err(), Some(Busy::AnotherWaits));
                drop(running);
            }
        );
        let (got, after) = took;
        assert!(got, "the waiter got the slot");
        assert!(after < Duration::from_secs(2), "it started {after:?} after");
    }

    #[tokio::test]
    async fn a_waiter_gives_up_after_its_wait_and_the_next_one_may_wait() {
        let slots = TenantSlots::new(1);
        let _hanging = slots.try_take(7, "messages_hot").unwrap();
        let started = Instant::now();
        let first = slots
            .take(7, "messages_hot", Duration::from_millis(200))
            .await;
        assert_eq!(first.err(), Some(Busy::WaitedInVain));
        assert!(started.elapsed() >= Duration::from_millis(200));
        // The wait mark is gone: another job may wait in its turn.
        let second = slots
            .take(7, "messages_hot", Duration::from_millis(50))
            .await;
        assert_eq!(second.err(), Some(Busy::WaitedInVain));
        // Other tenants are never made to wait.
        assert!(slots.take(8, "messages_hot", Duration::ZERO).await.is_ok());
    }
}
