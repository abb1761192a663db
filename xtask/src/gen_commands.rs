//! `cargo xtask gen-commands`: the command table, from a real server.
//!
//! Step one asks a running server for `COMMAND INFO` and `COMMAND DOCS` and writes what
//! client-core needs of them to `crates/client-core/commands.json`, which is checked in.
//! Step two generates `crates/client-core/src/command/table.rs` from that file. With
//! `--from-file`, only step two runs, so the code can be regenerated without a server; the
//! unit test below checks that the checked-in code matches the checked-in data.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::error::{Error, Result};
use crate::resp::{Conn, Reply};

/// Where the data file lives, relative to the workspace root.
pub const DATA_FILE: &str = "crates/client-core/commands.json";
/// Where the generated code goes, relative to the workspace root.
pub const TABLE_FILE: &str = "crates/client-core/src/command/table.rs";

/// Asks the server behind `conn` for its commands and returns the data file's content.
pub fn fetch(conn: &mut Conn) -> Result<Value> {
    let info = conn.call(&["COMMAND", "INFO"])?;
    let docs = conn.call(&["COMMAND", "DOCS"])?;
    let server = conn.text(&["INFO", "server"])?;
    let field = |name: &str| {
        crate::resp::info_field(&server, name)
            .unwrap_or("?")
            .to_string()
    };
    let docs = docs_by_name(&docs)?;
    let mut commands: Vec<Value> = items(&info, "COMMAND INFO")?
        .iter()
        .filter(|entry| !matches!(entry, Reply::Array(None) | Reply::Bulk(None)))
        .map(|entry| command(entry, &docs))
        .collect::<Result<_>>()?;
    commands.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
    Ok(json!({
        "source": format!("redis-server {} ({})", field("redis_version"), field("redis_mode")),
        "generated_by": "cargo xtask gen-commands",
        "commands": commands,
    }))
}

/// Writes the data file and generates the code from it.
pub fn write(root: &Path, data: &Value) -> Result<()> {
    let text = serde_json::to_string_pretty(data).map_err(|e| gen_error(e.to_string()))? + "\n";
    write_file(&root.join(DATA_FILE), &text)?;
    generate_from_file(root)
}

/// Generates the code from the checked-in data file.
pub fn generate_from_file(root: &Path) -> Result<()> {
    let code = generate(&read_data(root)?)?;
    write_file(&root.join(TABLE_FILE), &code)
}

fn read_data(root: &Path) -> Result<Value> {
    let path = root.join(DATA_FILE);
    let text = std::fs::read_to_string(&path).map_err(|e| io_error(&path, &e))?;
    serde_json::from_str(&text).map_err(|e| gen_error(format!("{}: {e}", path.display())))
}

fn write_file(path: &PathBuf, text: &str) -> Result<()> {
    std::fs::write(path, text).map_err(|e| io_error(path, &e))
}

fn io_error(path: &Path, e: &std::io::Error) -> Error {
    gen_error(format!("{}: {e}", path.display()))
}

fn gen_error(mut message: String) -> Error {
    message.insert_str(0, "gen-commands: ");
    Error::Setup(message)
}

fn items<'a>(reply: &'a Reply, what: &str) -> Result<&'a [Reply]> {
    reply
        .items()
        .ok_or_else(|| gen_error(format!("{what}: expected an array, got {reply}")))
}

fn text(reply: &Reply) -> String {
    reply.text().unwrap_or_default()
}

/// A RESP2 flattened map (`[k1, v1, k2, v2, ...]`) as pairs.
fn pairs(reply: &Reply) -> impl Iterator<Item = (String, &Reply)> {
    reply
        .items()
        .unwrap_or(&[])
        .chunks(2)
        .filter_map(|kv| match kv {
            [k, v] => Some((text(k), v)),
            _ => None,
        })
}

fn docs_by_name(docs: &Reply) -> Result<BTreeMap<String, &Reply>> {
    Ok(pairs(docs)
        .map(|(name, doc)| (name.to_lowercase(), doc))
        .collect())
}

/// One `COMMAND INFO` entry with its docs merged in.
fn command(entry: &Reply, docs: &BTreeMap<String, &Reply>) -> Result<Value> {
    let fields = items(entry, "a COMMAND INFO entry")?;
    let get = |i: usize| {
        fields
            .get(i)
            .ok_or_else(|| gen_error(format!("short entry {entry}")))
    };
    let name = text(get(0)?).to_lowercase();
    let strings =
        |reply: &Reply| -> Vec<String> { reply.items().unwrap_or(&[]).iter().map(text).collect() };
    let tips = fields.get(7).map(strings).unwrap_or_default();
    let key_specs: Vec<Value> = fields
        .get(8)
        .and_then(Reply::items)
        .unwrap_or(&[])
        .iter()
        .map(key_spec)
        .collect();
    // Subcommands' docs sit under their container's `subcommands` map.
    let doc = docs.get(&name).copied().or_else(|| {
        let (container, _) = name.split_once('|')?;
        let subs = pairs(docs.get(container)?)
            .find(|(k, _)| k == "subcommands")?
            .1;
        pairs(subs)
            .find(|(k, _)| k.to_lowercase() == name)
            .map(|(_, v)| v)
    });
    let doc_field = |field: &str| -> String {
        doc.and_then(|d| pairs(d).find(|(k, _)| k == field).map(|(_, v)| text(v)))
            .unwrap_or_default()
    };
    let mut subcommands: Vec<Value> = match fields.get(9).and_then(Reply::items) {
        Some(subs) => subs
            .iter()
            .map(|sub| command(sub, docs))
            .collect::<Result<_>>()?,
        None => Vec::new(),
    };
    subcommands.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
    Ok(json!({
        "name": name,
        "arity": get(1)?.integer().unwrap_or(0),
        "flags": strings(get(2)?),
        "tips": tips,
        "key_specs": key_specs,
        "group": doc_field("group"),
        "since": doc_field("since"),
        "summary": doc_field("summary"),
        "subcommands": subcommands,
    }))
}

fn key_spec(spec: &Reply) -> Value {
    let mut out = json!({});
    for (field, value) in pairs(spec) {
        match field.as_str() {
            "flags" => {
                let flags: Vec<String> = value.items().unwrap_or(&[]).iter().map(text).collect();
                out["flags"] = json!(flags);
            }
            "begin_search" | "find_keys" => {
                let kind = pairs(value)
                    .find(|(k, _)| k == "type")
                    .map(|(_, v)| text(v));
                let params: BTreeMap<String, Value> = pairs(value)
                    .find(|(k, _)| k == "spec")
                    .map(|(_, spec)| {
                        pairs(spec)
                            .map(|(k, v)| {
                                let v = v.integer().map_or_else(|| json!(text(v)), |n| json!(n));
                                (k, v)
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                out[field] = json!({ "type": kind.unwrap_or_default(), "spec": params });
            }
            _ => {}
        }
    }
    out
}

/// The Rust source of `table.rs` for the data file's content.
pub fn generate(data: &Value) -> Result<String> {
    let commands = data["commands"]
        .as_array()
        .ok_or_else(|| gen_error("the data file has no \"commands\" array".into()))?;
    let mut out = String::new();
    let source = data["source"].as_str().unwrap_or("a real server");
    writeln!(
        out,
        "//! The command table: generated by `cargo xtask gen-commands` from"
    )
    .unwrap();
    writeln!(
        out,
        "//! `crates/client-core/commands.json` ({source}). Do not edit by hand."
    )
    .unwrap();
    out.push('\n');
    out.push_str("#![allow(clippy::unreadable_literal)]\n\n");
    out.push_str("use super::spec::{BeginSearch as B, CommandFlags as F, CommandSpec, FindKeys as K, KeySpec, RequestPolicy as Rq, ResponsePolicy as Rs};\n\n");
    out.push_str("/// Every command the server knew, sorted by name.\n");
    out.push_str("pub(super) static COMMANDS: &[CommandSpec] = &[\n");
    for command in commands {
        spec_literal(&mut out, command, 1)?;
    }
    out.push_str("];\n");
    Ok(out)
}

fn spec_literal(out: &mut String, c: &Value, depth: usize) -> Result<()> {
    let pad = "    ".repeat(depth);
    let name = c["name"]
        .as_str()
        .ok_or_else(|| gen_error(format!("command without name: {c}")))?;
    let mut bits = 0u32;
    for flag in c["flags"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        bits |= flag_bit(flag).ok_or_else(|| {
            gen_error(format!(
                "{name}: unknown flag {flag:?}; add it to CommandFlags"
            ))
        })?;
    }
    let tips: Vec<&str> = c["tips"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let tip = |prefix: &str| tips.iter().find_map(|t| t.strip_prefix(prefix));
    let request = match tip("request_policy:") {
        None => "Default",
        Some("all_nodes") => "AllNodes",
        Some("all_shards") => "AllShards",
        Some("multi_shard") => "MultiShard",
        Some("special") => "Special",
        Some(other) => return Err(gen_error(format!("{name}: unknown request_policy {other}"))),
    };
    let response = match tip("response_policy:") {
        None => "Default",
        Some("one_succeeded") => "OneSucceeded",
        Some("all_succeeded") => "AllSucceeded",
        Some("agg_logical_and") => "AggLogicalAnd",
        Some("agg_logical_or") => "AggLogicalOr",
        Some("agg_min") => "AggMin",
        Some("agg_max") => "AggMax",
        Some("agg_sum") => "AggSum",
        Some("special") => "Special",
        Some(other) => {
            return Err(gen_error(format!(
                "{name}: unknown response_policy {other}"
            )));
        }
    };
    let nondeterministic = tips.contains(&"nondeterministic_output");
    writeln!(out, "{pad}CommandSpec {{").unwrap();
    writeln!(out, "{pad}    name: {name:?},").unwrap();
    writeln!(out, "{pad}    arity: {},", c["arity"].as_i64().unwrap_or(0)).unwrap();
    writeln!(out, "{pad}    flags: F::from_bits({bits:#x}),").unwrap();
    let specs = c["key_specs"].as_array().cloned().unwrap_or_default();
    if specs.is_empty() {
        writeln!(out, "{pad}    key_specs: &[],").unwrap();
    } else {
        writeln!(out, "{pad}    key_specs: &[").unwrap();
        for spec in &specs {
            writeln!(out, "{pad}        {},", key_spec_literal(name, spec)?).unwrap();
        }
        writeln!(out, "{pad}    ],").unwrap();
    }
    writeln!(out, "{pad}    request_policy: Rq::{request},").unwrap();
    writeln!(out, "{pad}    response_policy: Rs::{response},").unwrap();
    writeln!(out, "{pad}    nondeterministic_output: {nondeterministic},").unwrap();
    for field in ["group", "since", "summary"] {
        writeln!(
            out,
            "{pad}    {field}: {:?},",
            c[field].as_str().unwrap_or("")
        )
        .unwrap();
    }
    let subs = c["subcommands"].as_array().cloned().unwrap_or_default();
    if subs.is_empty() {
        writeln!(out, "{pad}    subcommands: &[],").unwrap();
    } else {
        writeln!(out, "{pad}    subcommands: &[").unwrap();
        for sub in &subs {
            spec_literal(out, sub, depth + 2)?;
        }
        writeln!(out, "{pad}    ],").unwrap();
    }
    writeln!(out, "{pad}}},").unwrap();
    Ok(())
}

fn key_spec_literal(name: &str, spec: &Value) -> Result<String> {
    let int = |v: &Value, k: &str| v["spec"][k].as_i64().unwrap_or(0);
    let begin = &spec["begin_search"];
    let begin = match begin["type"].as_str() {
        Some("index") => format!("B::Index({})", int(begin, "index")),
        Some("keyword") => format!(
            "B::Keyword {{ keyword: {:?}, start_from: {} }}",
            begin["spec"]["keyword"].as_str().unwrap_or(""),
            int(begin, "startfrom")
        ),
        Some("unknown") | None => "B::Unknown".into(),
        Some(other) => return Err(gen_error(format!("{name}: unknown begin_search {other}"))),
    };
    let find = &spec["find_keys"];
    let find = match find["type"].as_str() {
        Some("range") => format!(
            "K::Range {{ last_key: {}, step: {}, limit: {} }}",
            int(find, "lastkey"),
            int(find, "keystep"),
            int(find, "limit")
        ),
        Some("keynum") => format!(
            "K::KeyNum {{ key_num_index: {}, first_key: {}, step: {} }}",
            int(find, "keynumidx"),
            int(find, "firstkey"),
            int(find, "keystep")
        ),
        Some("unknown") | None => "K::Unknown".into(),
        Some(other) => return Err(gen_error(format!("{name}: unknown find_keys {other}"))),
    };
    let flags: Vec<&str> = spec["flags"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let read_only =
        flags.contains(&"RO") && !flags.iter().any(|f| matches!(*f, "RW" | "OW" | "RM"));
    Ok(format!(
        "KeySpec {{ begin_search: {begin}, find_keys: {find}, read_only: {read_only} }}"
    ))
}

/// The bit of each flag, matching `client_core::CommandFlags`.
fn flag_bit(flag: &str) -> Option<u32> {
    const FLAGS: [&str; 23] = [
        "write",
        "readonly",
        "denyoom",
        "admin",
        "pubsub",
        "noscript",
        "blocking",
        "loading",
        "stale",
        "skip_monitor",
        "skip_slowlog",
        "asking",
        "fast",
        "no_auth",
        "may_replicate",
        "no_mandatory_keys",
        "no_multi",
        "movablekeys",
        "allow_busy",
        "sentinel",
        "only_sentinel",
        "no_async_loading",
        "module",
    ];
    FLAGS.iter().position(|f| *f == flag).map(|i| 1 << i)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_checked_in_table_matches_the_checked_in_data() {
        let root = crate::workspace_root();
        let expected = generate(&read_data(&root).expect("commands.json")).expect("generate");
        let actual = std::fs::read_to_string(root.join(TABLE_FILE)).expect("table.rs");
        assert!(
            actual == expected,
            "{TABLE_FILE} is stale: run `cargo xtask gen-commands --from-file`"
        );
    }
}
