//! A thin wrapper around SQLite's own page cache that spares every commit a scan of the whole cache.
//!
//! At the end of each write transaction SQLite's pager asks the page cache to drop the pages past the end of
//! the database (`xTruncate`). The default cache (`pcache1`) keeps the highest page number it has seen since
//! the last truncation and scans only the hash slots between the database's end and that number, unless the
//! range is wider than its hash table, in which case it walks every page it holds. When a B-tree page splits,
//! SQLite renumbers the new pages into ascending order and parks one on the locking page's number (page
//! 262,145 with 4 KiB pages) for a moment. That raises the cache's highest number to 262,145, so as long as the
//! database is smaller than 1 GiB every commit that split an index page walks the whole cache: with warrant's
//! 64 MiB writer cache, ~19 % of the sequencer's time under the MCP benchmark (perf:
//! `pcache1TruncateUnsafe`, one cache miss per cached page).
//!
//! The wrapper keeps its own bound: the highest page number a page has been created under or renumbered to,
//! the locking page excepted while nothing is parked there. A truncation above that bound has nothing to drop
//! and is not passed on; any other is, unchanged. Everything else is forwarded as is, so the caching itself
//! (sizes, eviction, memory) stays SQLite's.
//!
//! The one module in warrant with `unsafe` code: SQLite's page-cache interface is a C vtable. It is installed
//! once per process before SQLite initialises ([`install`]); when something initialised SQLite first, the
//! default cache stays and only the speed differs.

#![allow(unsafe_code)]

use std::ffi::{c_int, c_uint, c_void};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Once, OnceLock};

use rusqlite::ffi;

/// SQLite's lock-byte offset (`PENDING_BYTE`); the page holding it is never part of a database.
const PENDING_BYTE: u32 = 0x4000_0000;

/// SQLite's default page-cache methods, which every call is passed on to.
struct Inner(ffi::sqlite3_pcache_methods2);

// SAFETY: the methods are plain C function pointers and an argument pointer that SQLite's default cache does
// not use; SQLite itself shares them between all threads.
unsafe impl Send for Inner {}
unsafe impl Sync for Inner {}

static INNER: OnceLock<Inner> = OnceLock::new();
static INSTALLED: AtomicBool = AtomicBool::new(false);

/// One page cache: SQLite's own, and the bound on the page numbers it may hold.
struct Cache {
    inner: *mut ffi::sqlite3_pcache,
    /// The locking page's number at this cache's page size.
    lock_page: c_uint,
    /// No page in the cache has a higher number, the locking page aside.
    highest: AtomicU32,
    /// Pages renumbered to the locking page and not yet moved off it.
    parked: AtomicU32,
}

/// Put the wrapper in place, once per process. Call before any SQLite connection opens.
pub(crate) fn install() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // SAFETY: both calls are made before SQLite initialises (or fail with SQLITE_MISUSE and change
        // nothing); SQLite copies the structure passed to SQLITE_CONFIG_PCACHE2.
        unsafe {
            let mut default: ffi::sqlite3_pcache_methods2 = std::mem::zeroed();
            let method: *mut ffi::sqlite3_pcache_methods2 = &mut default;
            if ffi::sqlite3_config(ffi::SQLITE_CONFIG_GETPCACHE2, method) != ffi::SQLITE_OK
                || default.xCreate.is_none()
            {
                return;
            }
            let version = default.iVersion;
            if INNER.set(Inner(default)).is_err() {
                return;
            }
            let ours = ffi::sqlite3_pcache_methods2 {
                iVersion: version,
                pArg: std::ptr::null_mut(),
                xInit: Some(init),
                xShutdown: Some(shutdown),
                xCreate: Some(create),
                xCachesize: Some(cachesize),
                xPagecount: Some(pagecount),
                xFetch: Some(fetch),
                xUnpin: Some(unpin),
                xRekey: Some(rekey),
                xTruncate: Some(truncate),
                xDestroy: Some(destroy),
                xShrink: Some(shrink),
            };
            let method: *const ffi::sqlite3_pcache_methods2 = &ours;
            if ffi::sqlite3_config(ffi::SQLITE_CONFIG_PCACHE2, method) == ffi::SQLITE_OK {
                INSTALLED.store(true, Ordering::Relaxed);
            } else {
                tracing::debug!("SQLite was initialised before the store: its page cache is used unwrapped");
            }
        }
    });
}

/// Whether the wrapper is SQLite's page cache in this process.
#[cfg(test)]
pub(crate) fn installed() -> bool {
    INSTALLED.load(Ordering::Relaxed)
}

fn inner() -> &'static ffi::sqlite3_pcache_methods2 {
    // Only reachable through methods installed after INNER was set.
    match INNER.get() {
        Some(Inner(methods)) => methods,
        None => unreachable!("the page-cache wrapper runs only once installed"),
    }
}

/// SAFETY (all methods below): SQLite calls them with caches this wrapper created, one call at a time per
/// cache (a cache belongs to one pager, used under its connection's mutex).
unsafe fn cache<'a>(cache: *mut ffi::sqlite3_pcache) -> &'a Cache {
    unsafe { &*cache.cast::<Cache>() }
}

unsafe extern "C" fn init(_: *mut c_void) -> c_int {
    let methods = inner();
    match methods.xInit {
        Some(init) => unsafe { init(methods.pArg) },
        None => ffi::SQLITE_OK,
    }
}

unsafe extern "C" fn shutdown(_: *mut c_void) {
    let methods = inner();
    if let Some(shutdown) = methods.xShutdown {
        unsafe { shutdown(methods.pArg) }
    }
}

unsafe extern "C" fn create(page_size: c_int, extra: c_int, purgeable: c_int) -> *mut ffi::sqlite3_pcache {
    let Some(create) = inner().xCreate else {
        return std::ptr::null_mut();
    };
    let created = unsafe { create(page_size, extra, purgeable) };
    if created.is_null() {
        return created;
    }
    let lock_page = PENDING_BYTE / c_uint::try_from(page_size.max(1)).unwrap_or(1) + 1;
    let wrapped = Box::new(Cache {
        inner: created,
        lock_page,
        highest: AtomicU32::new(0),
        parked: AtomicU32::new(0),
    });
    Box::into_raw(wrapped).cast()
}

unsafe extern "C" fn cachesize(pcache: *mut ffi::sqlite3_pcache, pages: c_int) {
    if let Some(cachesize) = inner().xCachesize {
        unsafe { cachesize(cache(pcache).inner, pages) }
    }
}

unsafe extern "C" fn pagecount(pcache: *mut ffi::sqlite3_pcache) -> c_int {
    match inner().xPagecount {
        Some(pagecount) => unsafe { pagecount(cache(pcache).inner) },
        None => 0,
    }
}

unsafe extern "C" fn fetch(
    pcache: *mut ffi::sqlite3_pcache,
    key: c_uint,
    create: c_int,
) -> *mut ffi::sqlite3_pcache_page {
    let Some(fetch) = inner().xFetch else {
        return std::ptr::null_mut();
    };
    let this = unsafe { cache(pcache) };
    let page = unsafe { fetch(this.inner, key, create) };
    // The pager never keeps the locking page: asked for it, it drops the page at once.
    if !page.is_null() && key != this.lock_page {
        this.highest.fetch_max(key, Ordering::Relaxed);
    }
    page
}

unsafe extern "C" fn unpin(
    pcache: *mut ffi::sqlite3_pcache,
    page: *mut ffi::sqlite3_pcache_page,
    discard: c_int,
) {
    if let Some(unpin) = inner().xUnpin {
        unsafe { unpin(cache(pcache).inner, page, discard) }
    }
}

unsafe extern "C" fn rekey(
    pcache: *mut ffi::sqlite3_pcache,
    page: *mut ffi::sqlite3_pcache_page,
    old: c_uint,
    new: c_uint,
) {
    let Some(rekey) = inner().xRekey else {
        return;
    };
    let this = unsafe { cache(pcache) };
    unsafe { rekey(this.inner, page, old, new) };
    if new == this.lock_page {
        this.parked.fetch_add(1, Ordering::Relaxed);
    } else {
        this.highest.fetch_max(new, Ordering::Relaxed);
    }
    if old == this.lock_page {
        let _ = this
            .parked
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |parked| {
                parked.checked_sub(1)
            });
    }
}

unsafe extern "C" fn truncate(pcache: *mut ffi::sqlite3_pcache, limit: c_uint) {
    let Some(truncate) = inner().xTruncate else {
        return;
    };
    let this = unsafe { cache(pcache) };
    let parked = this.parked.load(Ordering::Relaxed);
    if parked == 0 && limit > this.highest.load(Ordering::Relaxed) {
        // No page at `limit` or above: nothing to drop, and no walk over the cache to find that out.
        return;
    }
    unsafe { truncate(this.inner, limit) };
    this.highest.fetch_min(limit.saturating_sub(1), Ordering::Relaxed);
    if limit <= this.lock_page {
        this.parked.store(0, Ordering::Relaxed);
    }
}

unsafe extern "C" fn destroy(pcache: *mut ffi::sqlite3_pcache) {
    // SAFETY: SQLite destroys each cache once, after its last use; the box came from `create`.
    let this = unsafe { Box::from_raw(pcache.cast::<Cache>()) };
    if let Some(destroy) = inner().xDestroy {
        unsafe { destroy(this.inner) }
    }
}

unsafe extern "C" fn shrink(pcache: *mut ffi::sqlite3_pcache) {
    if let Some(shrink) = inner().xShrink {
        unsafe { shrink(cache(pcache).inner) }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use super::*;

    /// The vtable over SQLite's real cache: a truncation drops exactly the pages at or past its limit, is
    /// skipped only when there are none, and a page parked on the locking page's number is never missed.
    #[test]
    fn a_truncation_is_skipped_only_when_it_has_nothing_to_drop() {
        install();
        assert!(installed());
        // SAFETY: the methods are called as SQLite would: on a cache from `create`, pages from `fetch`.
        unsafe {
            assert_eq!(ffi::sqlite3_initialize(), ffi::SQLITE_OK);
            let pcache = create(4096, 64, 1);
            assert!(!pcache.is_null());
            cachesize(pcache, 100);
            let lock = PENDING_BYTE / 4096 + 1;
            let present = |key: c_uint| {
                let page = fetch(pcache, key, 0);
                if !page.is_null() {
                    unpin(pcache, page, 0);
                }
                !page.is_null()
            };
            for key in 1..=10 {
                let page = fetch(pcache, key, 2);
                assert!(!page.is_null());
                unpin(pcache, page, 0);
            }
            // A split's renumbering: pages 4 and 9 swap numbers through the locking page.
            let (four, nine) = (fetch(pcache, 4, 0), fetch(pcache, 9, 0));
            rekey(pcache, four, 4, lock);
            rekey(pcache, nine, 9, 4);
            rekey(pcache, four, lock, 9);
            unpin(pcache, four, 0);
            unpin(pcache, nine, 0);
            assert_eq!(cache(pcache).highest.load(Ordering::Relaxed), 10);
            assert_eq!(cache(pcache).parked.load(Ordering::Relaxed), 0);

            truncate(pcache, 11);
            assert!((1..=10).all(present), "nothing at 11 or past it: nothing dropped");
            truncate(pcache, 8);
            assert!((1..=7).all(present));
            assert!(!(8..=10).any(present), "pages 8 to 10 are dropped");
            assert_eq!(pagecount(pcache), 7);

            // A page still parked when a truncation comes is dropped with it, however high the limit.
            let seven = fetch(pcache, 7, 0);
            rekey(pcache, seven, 7, lock);
            unpin(pcache, seven, 0);
            truncate(pcache, 20);
            assert!(!present(lock));
            assert_eq!(pagecount(pcache), 6);
            destroy(pcache);
        }
    }

    /// Page splits in random order (which renumber pages through the locking page), rolled-back growth (a
    /// truncation that must drop pages) and reads after both: the database stays whole and reads back what
    /// was committed, no more.
    #[test]
    fn the_wrapped_cache_keeps_what_was_committed_and_drops_what_was_rolled_back() {
        install();
        assert!(
            installed(),
            "the wrapper is installed before the first connection"
        );
        let dir = std::env::temp_dir().join(format!("warrant-pcache-{}", crate::random_id("").unwrap()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("test.db");
        let connection = rusqlite::Connection::open(&path).unwrap();
        connection
            .execute_batch(
                "PRAGMA journal_mode = WAL; PRAGMA cache_size = -65536;
                 CREATE TABLE t (k TEXT NOT NULL, v BLOB NOT NULL); CREATE INDEX t_k ON t (k);",
            )
            .unwrap();
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut committed = 0u64;
        for round in 0..60 {
            let transaction = connection.unchecked_transaction().unwrap();
            for _ in 0..200 {
                transaction
                    .execute(
                        "INSERT INTO t (k, v) VALUES (?1, zeroblob(300))",
                        [format!("{:016x}", next())],
                    )
                    .unwrap();
            }
            if round % 3 == 2 {
                transaction.rollback().unwrap();
            } else {
                transaction.commit().unwrap();
                committed += 200;
            }
        }
        let count: u64 = connection
            .query_row("SELECT count(*) FROM t", [], |row| row.get(0))
            .unwrap();
        assert_eq!(count, committed);
        let indexed: u64 = connection
            .query_row("SELECT count(*) FROM t INDEXED BY t_k WHERE k >= ''", [], |row| {
                row.get(0)
            })
            .unwrap();
        assert_eq!(indexed, committed);
        let check: String = connection
            .query_row("PRAGMA integrity_check", [], |row| row.get(0))
            .unwrap();
        assert_eq!(check, "ok");
        // A second connection (its own cache) reads the same.
        let other = rusqlite::Connection::open(&path).unwrap();
        let seen: u64 = other
            .query_row("SELECT count(*) FROM t", [], |row| row.get(0))
            .unwrap();
        assert_eq!(seen, committed);
        drop((connection, other));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
