//! The fake node's data: strings, counters, lists and hashes in 16 databases, with expiry
//! against the virtual clock.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use bytes::Bytes;
use resp_core::Frame;

use super::{error, ok};

const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";
const NOT_AN_INTEGER: &str = "ERR value is not an integer or out of range";
const SYNTAX: &str = "ERR syntax error";

/// A value stored under a key of a [`FakeNode`](super::FakeNode).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum StoredValue {
    /// A string (counters are strings holding a number, as in Redis).
    String(Bytes),
    /// A list.
    List(VecDeque<Bytes>),
    /// A hash, by field.
    Hash(BTreeMap<Bytes, Bytes>),
}

/// A key's value and expiry, as a migration moves it from node to node.
#[derive(Clone, Debug)]
pub(crate) struct Entry {
    value: StoredValue,
    expires_at: Option<Instant>,
}

/// Every database of a node. Ordered maps, so that replies listing several items come out
/// the same way on every run.
#[derive(Clone, Debug)]
pub(super) struct Keyspace {
    dbs: Vec<BTreeMap<Bytes, Entry>>,
}

pub(super) fn parse_i64(bytes: &[u8]) -> Option<i64> {
    std::str::from_utf8(bytes).ok()?.parse().ok()
}

fn int_arg(bytes: &[u8]) -> Result<i64, Frame> {
    parse_i64(bytes).ok_or_else(|| error(NOT_AN_INTEGER))
}

impl Keyspace {
    pub(super) fn new(databases: usize) -> Self {
        Self {
            dbs: vec![BTreeMap::new(); databases.max(1)],
        }
    }

    pub(super) fn databases(&self) -> usize {
        self.dbs.len()
    }

    /// The entry under `key`, unless it is missing or expired (an expired one is removed).
    fn live(&mut self, db: usize, key: &[u8], now: Instant) -> Option<&mut Entry> {
        let map = &mut self.dbs[db];
        if map
            .get(key)
            .is_some_and(|e| e.expires_at.is_some_and(|at| at <= now))
        {
            map.remove(key);
        }
        map.get_mut(key)
    }

    /// The value under `key` at `now`.
    pub(super) fn value(&mut self, db: usize, key: &[u8], now: Instant) -> Option<&StoredValue> {
        self.live(db, key, now).map(|e| &e.value)
    }

    /// Removes `key` and returns its entry, unless it is missing or expired.
    pub(super) fn take(&mut self, db: usize, key: &[u8], now: Instant) -> Option<Entry> {
        self.live(db, key, now)?;
        self.dbs[db].remove(key)
    }

    /// Stores `entry` under `key`, replacing what was there.
    pub(super) fn put(&mut self, db: usize, key: Bytes, entry: Entry) {
        self.dbs[db].insert(key, entry);
    }

    /// The first live key of `db` (in key order) that `wanted` accepts.
    pub(super) fn find(
        &mut self,
        db: usize,
        wanted: impl Fn(&[u8]) -> bool,
        now: Instant,
    ) -> Option<Bytes> {
        self.dbs[db]
            .iter()
            .find(|(k, e)| wanted(k) && e.expires_at.is_none_or(|at| at > now))
            .map(|(k, _)| k.clone())
    }

    /// Every live key of `db`, in key order.
    pub(super) fn keys(&self, db: usize, now: Instant) -> Vec<Bytes> {
        self.dbs[db]
            .iter()
            .filter(|(_, e)| e.expires_at.is_none_or(|at| at > now))
            .map(|(k, _)| k.clone())
            .collect()
    }

    pub(super) fn flush(&mut self) {
        self.dbs.iter_mut().for_each(BTreeMap::clear);
    }

    /// Runs one data command (name in upper case, arity already checked).
    pub(super) fn run(&mut self, db: usize, name: &str, args: &[Bytes], now: Instant) -> Frame {
        let result = match name {
            "GET" => self.get(db, &args[1], now),
            "SET" => self.set(db, args, now),
            "INCR" => self.incr_by(db, &args[1], 1, now),
            "INCRBY" => int_arg(&args[2]).and_then(|by| self.incr_by(db, &args[1], by, now)),
            "MGET" => Ok(Frame::Array(
                args[1..]
                    .iter()
                    .map(|k| match self.live(db, k, now).map(|e| &e.value) {
                        Some(StoredValue::String(s)) => Frame::BulkString(s.clone()),
                        _ => Frame::Null,
                    })
                    .collect(),
            )),
            "MSET" if args.len().is_multiple_of(2) => {
                Err(error("ERR wrong number of arguments for 'mset' command"))
            }
            "MSET" => {
                for pair in args[1..].chunks(2) {
                    let entry = Entry {
                        value: StoredValue::String(pair[1].clone()),
                        expires_at: None,
                    };
                    self.dbs[db].insert(pair[0].clone(), entry);
                }
                Ok(ok())
            }
            "DEL" | "UNLINK" => {
                let mut removed = 0;
                for key in &args[1..] {
                    if self.live(db, key, now).is_some() {
                        self.dbs[db].remove(&key[..]);
                        removed += 1;
                    }
                }
                Ok(Frame::Integer(removed))
            }
            "EXISTS" | "TOUCH" => Ok(Frame::Integer(
                args[1..]
                    .iter()
                    .filter(|k| self.live(db, k, now).is_some())
                    .count() as i64,
            )),
            "EXPIRE" => {
                int_arg(&args[2]).map(|s| self.expire(db, &args[1], s.saturating_mul(1000), now))
            }
            "PEXPIRE" => int_arg(&args[2]).map(|ms| self.expire(db, &args[1], ms, now)),
            "TTL" => Ok(self.ttl(db, &args[1], now, true)),
            "PTTL" => Ok(self.ttl(db, &args[1], now, false)),
            "LPUSH" | "RPUSH" => self.push(db, name == "LPUSH", args, now),
            "LPOP" | "RPOP" => self.pop(db, name == "LPOP", args, now),
            "LRANGE" => self.lrange(db, args, now),
            "LLEN" => self
                .list(db, &args[1], now)
                .map(|l| Frame::Integer(l.map_or(0, |l| l.len() as i64))),
            "HSET" => self.hset(db, args, now),
            "HGET" => self.hash(db, &args[1], now).map(|h| {
                h.and_then(|h| h.get(&args[2][..]).cloned())
                    .map_or(Frame::Null, Frame::BulkString)
            }),
            "HGETALL" => self.hash(db, &args[1], now).map(|h| {
                let pairs = h.iter().flat_map(|h| h.iter());
                Frame::Map(
                    pairs
                        .map(|(f, v)| (Frame::BulkString(f.clone()), Frame::BulkString(v.clone())))
                        .collect(),
                )
            }),
            "HDEL" => self.hdel(db, args, now),
            "DBSIZE" => Ok(Frame::Integer(self.dbs[db].len() as i64)),
            "FLUSHALL" => {
                self.flush();
                Ok(ok())
            }
            "FLUSHDB" => {
                self.dbs[db].clear();
                Ok(ok())
            }
            _ => Err(error(&format!("ERR unknown command '{name}'"))),
        };
        result.unwrap_or_else(|e| e)
    }

    fn string(&mut self, db: usize, key: &[u8], now: Instant) -> Result<Option<Bytes>, Frame> {
        match self.live(db, key, now).map(|e| &e.value) {
            None => Ok(None),
            Some(StoredValue::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(error(WRONGTYPE)),
        }
    }

    fn get(&mut self, db: usize, key: &[u8], now: Instant) -> Result<Frame, Frame> {
        Ok(self
            .string(db, key, now)?
            .map_or(Frame::Null, Frame::BulkString))
    }

    /// `SET key value [NX|XX] [GET] [EX s|PX ms|KEEPTTL]`.
    fn set(&mut self, db: usize, args: &[Bytes], now: Instant) -> Result<Frame, Frame> {
        let (mut nx, mut xx, mut get, mut keep_ttl) = (false, false, false, false);
        let mut ttl_ms: Option<i64> = None;
        let mut i = 3;
        while i < args.len() {
            let option = args[i].to_ascii_uppercase();
            match &option[..] {
                b"NX" => nx = true,
                b"XX" => xx = true,
                b"GET" => get = true,
                b"KEEPTTL" => keep_ttl = true,
                b"EX" | b"PX" => {
                    i += 1;
                    let amount = int_arg(args.get(i).ok_or_else(|| error(SYNTAX))?)?;
                    if amount <= 0 {
                        return Err(error("ERR invalid expire time in 'set' command"));
                    }
                    let scale = if &option[..] == b"EX" { 1000 } else { 1 };
                    ttl_ms = Some(amount.saturating_mul(scale));
                }
                _ => return Err(error(SYNTAX)),
            }
            i += 1;
        }
        if (nx && xx) || (keep_ttl && ttl_ms.is_some()) {
            return Err(error(SYNTAX));
        }
        let key = &args[1];
        let old = if get {
            self.string(db, key, now)?
        } else {
            None
        };
        let existing = self.live(db, key, now);
        let exists = existing.is_some();
        let kept = existing.and_then(|e| e.expires_at).filter(|_| keep_ttl);
        if (nx && exists) || (xx && !exists) {
            return Ok(if get {
                old.map_or(Frame::Null, Frame::BulkString)
            } else {
                Frame::Null
            });
        }
        let expires_at = ttl_ms
            .map(|ms| now + Duration::from_millis(ms as u64))
            .or(kept);
        let entry = Entry {
            value: StoredValue::String(args[2].clone()),
            expires_at,
        };
        self.dbs[db].insert(key.clone(), entry);
        Ok(if get {
            old.map_or(Frame::Null, Frame::BulkString)
        } else {
            ok()
        })
    }

    fn incr_by(&mut self, db: usize, key: &Bytes, by: i64, now: Instant) -> Result<Frame, Frame> {
        let current = match self.string(db, key, now)? {
            None => 0,
            Some(text) => int_arg(&text)?,
        };
        let next = current
            .checked_add(by)
            .ok_or_else(|| error("ERR increment or decrement would overflow"))?;
        let text = Bytes::from(next.to_string());
        match self.live(db, key, now) {
            Some(entry) => entry.value = StoredValue::String(text),
            None => {
                let entry = Entry {
                    value: StoredValue::String(text),
                    expires_at: None,
                };
                self.dbs[db].insert(key.clone(), entry);
            }
        }
        Ok(Frame::Integer(next))
    }

    fn expire(&mut self, db: usize, key: &[u8], ms: i64, now: Instant) -> Frame {
        let Some(entry) = self.live(db, key, now) else {
            return Frame::Integer(0);
        };
        if ms <= 0 {
            self.dbs[db].remove(key);
        } else {
            entry.expires_at = Some(now + Duration::from_millis(ms as u64));
        }
        Frame::Integer(1)
    }

    fn ttl(&mut self, db: usize, key: &[u8], now: Instant, seconds: bool) -> Frame {
        match self.live(db, key, now) {
            None => Frame::Integer(-2),
            Some(Entry {
                expires_at: None, ..
            }) => Frame::Integer(-1),
            Some(Entry {
                expires_at: Some(at),
                ..
            }) => {
                let ms = at.saturating_duration_since(now).as_millis() as i64;
                Frame::Integer(if seconds { (ms + 500) / 1000 } else { ms })
            }
        }
    }

    fn list(
        &mut self,
        db: usize,
        key: &[u8],
        now: Instant,
    ) -> Result<Option<&mut VecDeque<Bytes>>, Frame> {
        match self.live(db, key, now).map(|e| &mut e.value) {
            None => Ok(None),
            Some(StoredValue::List(list)) => Ok(Some(list)),
            Some(_) => Err(error(WRONGTYPE)),
        }
    }

    fn push(
        &mut self,
        db: usize,
        left: bool,
        args: &[Bytes],
        now: Instant,
    ) -> Result<Frame, Frame> {
        if self.list(db, &args[1], now)?.is_none() {
            let entry = Entry {
                value: StoredValue::List(VecDeque::new()),
                expires_at: None,
            };
            self.dbs[db].insert(args[1].clone(), entry);
        }
        let list = self.list(db, &args[1], now)?.expect("just created");
        for value in &args[2..] {
            if left {
                list.push_front(value.clone());
            } else {
                list.push_back(value.clone());
            }
        }
        Ok(Frame::Integer(list.len() as i64))
    }

    fn pop(&mut self, db: usize, left: bool, args: &[Bytes], now: Instant) -> Result<Frame, Frame> {
        let count = match args.get(2) {
            Some(count) => {
                Some(usize::try_from(int_arg(count)?).map_err(|_| error(NOT_AN_INTEGER))?)
            }
            None => None,
        };
        if args.len() > 3 {
            return Err(error("ERR wrong number of arguments for 'lpop' command"));
        }
        let Some(list) = self.list(db, &args[1], now)? else {
            return Ok(Frame::Null);
        };
        let mut take = || {
            if left {
                list.pop_front()
            } else {
                list.pop_back()
            }
        };
        let reply = match count {
            None => take().map_or(Frame::Null, Frame::BulkString),
            Some(n) => Frame::Array(
                (0..n)
                    .map_while(|_| take())
                    .map(Frame::BulkString)
                    .collect(),
            ),
        };
        if list.is_empty() {
            self.dbs[db].remove(&args[1][..]);
        }
        Ok(reply)
    }

    fn lrange(&mut self, db: usize, args: &[Bytes], now: Instant) -> Result<Frame, Frame> {
        let (start, stop) = (int_arg(&args[2])?, int_arg(&args[3])?);
        let Some(list) = self.list(db, &args[1], now)? else {
            return Ok(Frame::Array(Vec::new()));
        };
        let len = list.len() as i64;
        let start = if start < 0 {
            (len + start).max(0)
        } else {
            start
        };
        let stop = if stop < 0 {
            len + stop
        } else {
            stop.min(len - 1)
        };
        if start > stop || start >= len {
            return Ok(Frame::Array(Vec::new()));
        }
        let items = list
            .range(start as usize..=stop as usize)
            .cloned()
            .map(Frame::BulkString);
        Ok(Frame::Array(items.collect()))
    }

    fn hash(
        &mut self,
        db: usize,
        key: &[u8],
        now: Instant,
    ) -> Result<Option<&mut BTreeMap<Bytes, Bytes>>, Frame> {
        match self.live(db, key, now).map(|e| &mut e.value) {
            None => Ok(None),
            Some(StoredValue::Hash(hash)) => Ok(Some(hash)),
            Some(_) => Err(error(WRONGTYPE)),
        }
    }

    fn hset(&mut self, db: usize, args: &[Bytes], now: Instant) -> Result<Frame, Frame> {
        if !args.len().is_multiple_of(2) {
            return Err(error("ERR wrong number of arguments for 'hset' command"));
        }
        if self.hash(db, &args[1], now)?.is_none() {
            let entry = Entry {
                value: StoredValue::Hash(BTreeMap::new()),
                expires_at: None,
            };
            self.dbs[db].insert(args[1].clone(), entry);
        }
        let hash = self.hash(db, &args[1], now)?.expect("just created");
        let added = args[2..]
            .chunks(2)
            .filter(|pair| hash.insert(pair[0].clone(), pair[1].clone()).is_none())
            .count();
        Ok(Frame::Integer(added as i64))
    }

    fn hdel(&mut self, db: usize, args: &[Bytes], now: Instant) -> Result<Frame, Frame> {
        let Some(hash) = self.hash(db, &args[1], now)? else {
            return Ok(Frame::Integer(0));
        };
        let removed = args[2..]
            .iter()
            .filter(|f| hash.remove(&f[..]).is_some())
            .count();
        if hash.is_empty() {
            self.dbs[db].remove(&args[1][..]);
        }
        Ok(Frame::Integer(removed as i64))
    }
}
