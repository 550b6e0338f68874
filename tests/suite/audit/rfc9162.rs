//! An independent verifier, written from RFC 9162 §2.1 and the README's leaf and tree-head
//! encodings, to check what the server hands out without calling the code that made it.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value;
use sha2::{Digest, Sha256};

pub type Hash = [u8; 32];

fn sha(parts: &[&[u8]]) -> Hash {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}

pub fn leaf(bytes: &[u8]) -> Hash {
    sha(&[&[0], bytes])
}

pub fn node(l: &Hash, r: &Hash) -> Hash {
    sha(&[&[1], l, r])
}

pub fn hex32(text: &str) -> Hash {
    hex::decode(text).unwrap().try_into().unwrap()
}

/// MTH(D[n]) by the RFC's recursion (§2.1.1).
pub fn root(leaves: &[Hash]) -> Hash {
    match leaves.len() {
        0 => sha(&[]),
        1 => leaves[0],
        n => {
            let mut k = 1;
            while k * 2 < n {
                k *= 2;
            }
            node(&root(&leaves[..k]), &root(&leaves[k..]))
        }
    }
}

/// §2.1.3.2, step by step.
pub fn verify_inclusion(index: u64, size: u64, leaf: Hash, path: &[Hash], root: Hash) -> bool {
    if index >= size {
        return false;
    }
    let mut fnode = index;
    let mut snode = size - 1;
    let mut r = leaf;
    for p in path {
        if snode == 0 {
            return false;
        }
        if fnode % 2 == 1 || fnode == snode {
            r = node(p, &r);
            while fnode.is_multiple_of(2) && fnode != 0 {
                fnode /= 2;
                snode /= 2;
            }
        } else {
            r = node(&r, p);
        }
        fnode /= 2;
        snode /= 2;
    }
    snode == 0 && r == root
}

/// §2.1.4.2, step by step.
pub fn verify_consistency(first: u64, second: u64, r1: Hash, r2: Hash, proof: &[Hash]) -> bool {
    if first == second {
        return proof.is_empty() && r1 == r2;
    }
    if first == 0 || first > second || proof.is_empty() {
        return false;
    }
    let mut path = proof.to_vec();
    if first & (first - 1) == 0 {
        path.insert(0, r1);
    }
    let mut fnode = first - 1;
    let mut snode = second - 1;
    while fnode % 2 == 1 {
        fnode /= 2;
        snode /= 2;
    }
    let mut fr = path[0];
    let mut sr = path[0];
    for c in &path[1..] {
        if snode == 0 {
            return false;
        }
        if fnode % 2 == 1 || fnode == snode {
            fr = node(c, &fr);
            sr = node(c, &sr);
            while fnode.is_multiple_of(2) && fnode != 0 {
                fnode /= 2;
                snode /= 2;
            }
        } else {
            sr = node(&sr, c);
        }
        fnode /= 2;
        snode /= 2;
    }
    fr == r1 && sr == r2 && snode == 0
}

fn canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
            out.push('{');
            for (i, k) in keys.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&serde_json::to_string(k).unwrap());
                out.push(':');
                canonical(&map[*k], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonical(v, out);
            }
            out.push(']');
        }
        other => out.push_str(&serde_json::to_string(other).unwrap()),
    }
}

/// The leaf hash of one export line, built from the README's description of the leaf.
pub fn leaf_of_export_line(line: &Value) -> Hash {
    let mut data = line["data"].clone();
    if let Some(sealed) = line.get("sealed").and_then(Value::as_object) {
        for (k, v) in sealed {
            data[k] = v.clone();
        }
    }
    // Stored metadata leaves out what is absent.
    let mut metadata = line["metadata"].clone();
    metadata
        .as_object_mut()
        .unwrap()
        .retain(|_, v| !v.is_null());
    let uuid = |v: &Value| {
        *uuid::Uuid::parse_str(v.as_str().unwrap())
            .unwrap()
            .as_bytes()
    };
    let mut bytes = Vec::new();
    let mut field = |b: &[u8]| {
        bytes.extend_from_slice(&(b.len() as u64).to_be_bytes());
        bytes.extend_from_slice(b);
    };
    let (mut d, mut m) = (String::new(), String::new());
    canonical(&data, &mut d);
    canonical(&metadata, &mut m);
    let at: chrono::DateTime<chrono::Utc> = line["recorded_at"].as_str().unwrap().parse().unwrap();
    field(b"tillroll-leaf-v1");
    field(&line["log_index"].as_i64().unwrap().to_be_bytes());
    field(&uuid(&line["event_id"]));
    field(line["stream_id"].as_str().unwrap().as_bytes());
    field(&line["version"].as_i64().unwrap().to_be_bytes());
    field(line["type"].as_str().unwrap().as_bytes());
    field(&(line["schema_version"].as_i64().unwrap() as i32).to_be_bytes());
    field(d.as_bytes());
    field(m.as_bytes());
    field(
        at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
            .as_bytes(),
    );
    match line["pii_subject"].as_str() {
        Some(_) => field(&uuid(&line["pii_subject"])),
        None => field(&[]),
    }
    field(&hex::decode(line["hash"].as_str().unwrap()).unwrap());
    leaf(&bytes)
}

/// Whether a tree head's signature is the public key's (`GET /audit/public-key`) over the
/// README's signed byte string.
pub fn head_signed_by(head: &Value, public_key: &Value) -> bool {
    use ed25519_dalek::Verifier;
    let key: [u8; 32] = STANDARD
        .decode(public_key["public_key"].as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap();
    let key = ed25519_dalek::VerifyingKey::from_bytes(&key).unwrap();
    let at: chrono::DateTime<chrono::Utc> = head["timestamp"].as_str().unwrap().parse().unwrap();
    let message = format!(
        "tillroll-tree-head-v1\n{}\n{}\n{}\n{}\n{}\n{}\n",
        head["tree_size"],
        head["root_hash"].as_str().unwrap(),
        head["log_position"],
        at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        head["key_id"].as_str().unwrap(),
        head["previous_tree_size"]
    );
    let signature = STANDARD
        .decode(head["signature"].as_str().unwrap())
        .unwrap();
    let Ok(signature) = ed25519_dalek::Signature::from_slice(&signature) else {
        return false;
    };
    head["key_id"] == public_key["key_id"] && key.verify(message.as_bytes(), &signature).is_ok()
}
