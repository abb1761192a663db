//! Client-side caching through the runtime's adapter, against the real servers of every topology
//! (a single server, the cluster, the Sentinel primary). RESP3 only: invalidations are
//! pushes on the connection that read (with RESP2 the client neither tracks nor caches, which
//! the RESP2 cells check). In a cluster each node's shared connection tracks its own keys.
//!
//! The coherence test has a second client write while the first reads, and checks what the
//! issue asks: once the first client has received the server's invalidation of a key, it never
//! reads the old value. Its hooks record when each invalidation arrived (under the core's lock,
//! as the core handles the push), so a read submitted after that moment must see the new value.
//! It prints `EVIDENCE cache protocol=3 ...` (see it with `--nocapture`).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use client_core::hooks::{CacheInvalidation, Hooks, InvalidationCause};
use client_core::{CacheSettings, Command, RequestId};
use redwire_tests::{TestEnv, TopologyKind};

use crate::rt::{self, Commands, Config};

/// Records what the cache did: hits, misses, and when the server's invalidations of the
/// watched key arrived.
#[derive(Debug)]
struct CacheLog {
    key: Vec<u8>,
    hits: AtomicU64,
    misses: AtomicU64,
    /// Arrival of each server invalidation naming `key`, in order.
    invalidated: Mutex<Vec<Instant>>,
}

impl CacheLog {
    fn invalidations(&self) -> Vec<Instant> {
        self.invalidated
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl Hooks for CacheLog {
    fn cache_hit(&self, _request: RequestId, _command: &Command) {
        self.hits.fetch_add(1, Ordering::Relaxed);
    }

    fn cache_miss(&self, _request: RequestId, _command: &Command) {
        self.misses.fetch_add(1, Ordering::Relaxed);
    }

    fn cache_invalidated(&self, invalidation: &CacheInvalidation<'_>) {
        let named = invalidation.keys.iter().any(|k| k[..] == self.key[..]);
        if invalidation.cause == InvalidationCause::Server && named {
            self.invalidated
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(Instant::now());
        }
    }
}

/// The cell's client configuration: the cluster's seeds in a cluster (its env URL names one
/// node), the env's URL otherwise (a single server, or the sentinels).
fn topology_config(env: &TestEnv) -> Config {
    match env.topology {
        TopologyKind::Cluster => super::cluster::cluster_config(env),
        _ => env.client_config(),
    }
}

fn caching_config(env: &TestEnv, log: &Arc<CacheLog>) -> Config {
    let mut config = topology_config(env);
    config.cache = Some(CacheSettings::new(1000));
    config.hooks = Some(log.clone());
    config
}

#[test]
fn a_cached_read_never_returns_a_value_older_than_a_received_invalidation() {
    rt::block_on_multi(async {
        let env = TestEnv::load();
        if env.protocol != 3 {
            return;
        }
        let k = super::key(&format!("cache:{}", super::unique_run()));
        let log = Arc::new(CacheLog {
            key: k.clone().into_bytes(),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            invalidated: Mutex::new(Vec::new()),
        });
        let reader = super::client_with(&env, caching_config(&env, &log)).await;
        let writer = super::client_with(&env, topology_config(&env)).await;
        let _: () = writer.set(&k, 0u64).await.expect("SET");

        // A reader hammering the key all along: each read with when it was submitted.
        let stop = Arc::new(AtomicBool::new(false));
        let background = {
            let (reader, k, stop) = (reader.clone(), k.clone(), stop.clone());
            rt::spawn(async move {
                let mut reads: Vec<(Instant, u64)> = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    let submitted = Instant::now();
                    let v: u64 = reader.get(&k).await.expect("GET");
                    reads.push((submitted, v));
                }
                reads
            })
        };

        // Up to 300 versions, but no more than 5 s of them once 30 are done: where the reader
        // keeps the executor busy, glommio reads the sockets only every 100 ms (client-glommio's
        // "Task queues"), and each version waits for a few such reads.
        const VERSIONS: u64 = 300;
        const AT_LEAST: u64 = 30;
        const FOR_AT_MOST: Duration = Duration::from_secs(5);
        let began = Instant::now();
        let mut versions = 0;
        let mut waits = Vec::new();
        for version in 1..=VERSIONS {
            if version > AT_LEAST && began.elapsed() > FOR_AT_MOST {
                break;
            }
            versions = version;
            // Read (and so cache, and have the server track) the current value.
            let before: u64 = reader.get(&k).await.expect("GET");
            assert_eq!(before, version - 1);
            let seen = log.invalidations().len();
            let written = Instant::now();
            let _: () = writer.set(&k, version).await.expect("SET");
            // Wait for the invalidation to reach the reader.
            let deadline = Instant::now() + Duration::from_secs(5);
            while log.invalidations().len() == seen {
                assert!(
                    Instant::now() < deadline,
                    "no invalidation of {k} reached the reader within 5 s of version {version}"
                );
                rt::yield_now().await;
            }
            waits.push(written.elapsed());
            let after: u64 = reader.get(&k).await.expect("GET");
            assert_eq!(
                after, version,
                "read the old value after the invalidation of version {version} arrived"
            );
        }
        stop.store(true, Ordering::Relaxed);
        let reads = background.await.expect("the background reader");
        // Invalidation `i` (0-based) is that of version `i + 1`: a read submitted after it
        // arrived must see at least that version.
        let invalidations = log.invalidations();
        let mut stale = Vec::new();
        for &(submitted, v) in &reads {
            let arrived_before = invalidations.iter().filter(|&&at| at <= submitted).count() as u64;
            if v < arrived_before {
                stale.push((v, arrived_before));
            }
        }
        assert!(
            stale.is_empty(),
            "{} reads returned a version older than an invalidation received before they were \
         submitted, e.g. {:?}",
            stale.len(),
            &stale[..stale.len().min(5)]
        );
        let hits = log.hits.load(Ordering::Relaxed);
        let misses = log.misses.load(Ordering::Relaxed);
        assert!(hits > 0, "the cache never answered a read");
        waits.sort();
        println!(
            "EVIDENCE cache topology={} protocol=3 versions={versions} reads={} background_reads={} \
         hits={hits} misses={misses} invalidations={} stale=0 invalidation_after_set_p50_us={} \
         p99_us={}",
            env.topology.name(),
            reads.len() + 2 * versions as usize,
            reads.len(),
            invalidations.len(),
            waits[waits.len() / 2].as_micros(),
            waits[waits.len() * 99 / 100].as_micros(),
        );
    });
}

#[test]
fn repeated_reads_are_served_from_the_cache_until_the_key_changes() {
    rt::block_on_multi(async {
        let env = TestEnv::load();
        let k = super::key(&format!("cache:hits:{}", super::unique_run()));
        let log = Arc::new(CacheLog {
            key: k.clone().into_bytes(),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            invalidated: Mutex::new(Vec::new()),
        });
        let mut config = caching_config(&env, &log);
        if env.protocol == 2 {
            // With RESP2 there are no invalidation pushes: the client must not cache at all.
            config.protocol = env.resp_protocol();
        }
        let reader = super::client_with(&env, config).await;
        let writer = super::client_with(&env, topology_config(&env)).await;
        let _: () = writer.set(&k, "a").await.expect("SET");
        for _ in 0..100 {
            let v: String = reader.get(&k).await.expect("GET");
            assert_eq!(v, "a");
        }
        let (hits, misses) = (
            log.hits.load(Ordering::Relaxed),
            log.misses.load(Ordering::Relaxed),
        );
        if env.protocol == 2 {
            assert_eq!((hits, misses), (0, 0), "RESP2 must not cache");
            return;
        }
        assert_eq!((hits, misses), (99, 1));
        let _: () = writer.set(&k, "b").await.expect("SET");
        let deadline = Instant::now() + Duration::from_secs(5);
        while log.invalidations().is_empty() {
            assert!(Instant::now() < deadline, "no invalidation within 5 s");
            rt::yield_now().await;
        }
        let v: String = reader.get(&k).await.expect("GET");
        assert_eq!(v, "b");
        println!(
            "EVIDENCE cache test=hits topology={} protocol=3 reads=101 hits={} misses={}",
            env.topology.name(),
            log.hits.load(Ordering::Relaxed),
            log.misses.load(Ordering::Relaxed)
        );
    });
}
