//! What the fake checks in a written record: the post lexicon's shape (as
//! the real PDS does), and facet byte ranges (which the real PDS does not).

use serde_json::Value;
use unicode_segmentation::UnicodeSegmentation;

use super::World;

pub fn record(world: &World, collection: &str, rkey: &str, record: &Value) -> Result<(), String> {
    if record["$type"] != collection {
        return Err(format!("record $type must be {collection}"));
    }
    match collection {
        "app.bsky.feed.post" => {
            if !hashchat::network::bluesky::is_tid(rkey) {
                return Err(format!(
                    "Invalid record key for app.bsky.feed.post: {rkey:?} is not a TID"
                ));
            }
            post(world, record)
        }
        "app.bsky.actor.profile" if rkey == "self" => Ok(()),
        other => Err(format!("this fake does not take {other} records")),
    }
}

fn post(world: &World, record: &Value) -> Result<(), String> {
    let text = record["text"].as_str().ok_or("text must be a string")?;
    if text.len() > 3000 || text.graphemes(true).count() > 300 {
        return Err("text is longer than 300 graphemes".into());
    }
    let created = record["createdAt"]
        .as_str()
        .ok_or("createdAt is required")?;
    chrono::DateTime::parse_from_rfc3339(created).map_err(|e| format!("createdAt: {e}"))?;
    if let Some(langs) = record.get("langs") {
        let ok = langs
            .as_array()
            .is_some_and(|l| l.iter().all(Value::is_string) && l.len() <= 3);
        if !ok {
            return Err("langs must be up to 3 language tags".into());
        }
    }
    for facet in record["facets"].as_array().into_iter().flatten() {
        facet_ok(world, text, facet)?;
    }
    if let Some(reply) = record.get("reply") {
        for end in ["root", "parent"] {
            strong_ref_exists(world, &reply[end]).map_err(|e| format!("reply.{end}: {e}"))?;
        }
    }
    if let Some(embed) = record.get("embed") {
        if embed["$type"] != "app.bsky.embed.images" {
            return Err("only app.bsky.embed.images embeds here".into());
        }
        for image in embed["images"]
            .as_array()
            .ok_or("embed.images must be a list")?
        {
            if !image["alt"].is_string() || image["image"]["$type"] != "blob" {
                return Err("each image needs alt text and a blob".into());
            }
        }
    }
    Ok(())
}

fn facet_ok(world: &World, text: &str, facet: &Value) -> Result<(), String> {
    let start = facet["index"]["byteStart"]
        .as_u64()
        .ok_or("facet without byteStart")? as usize;
    let end = facet["index"]["byteEnd"]
        .as_u64()
        .ok_or("facet without byteEnd")? as usize;
    let covered = (start < end && end <= text.len())
        .then(|| text.get(start..end))
        .flatten()
        .ok_or_else(|| {
            format!("facet {start}..{end} is not a range of whole characters of the text")
        })?;
    let features = facet["features"]
        .as_array()
        .filter(|f| !f.is_empty())
        .ok_or("facet without features")?;
    for feature in features {
        let want = match feature["$type"].as_str() {
            Some("app.bsky.richtext.facet#tag") => {
                let tag = feature["tag"].as_str().ok_or("tag feature without tag")?;
                if covered != format!("#{tag}") && covered != format!("＃{tag}") {
                    return Err(format!(
                        "tag facet {start}..{end} covers {covered:?}, not #{tag}"
                    ));
                }
                continue;
            }
            Some("app.bsky.richtext.facet#link") => feature["uri"].as_str().map(str::to_owned),
            Some("app.bsky.richtext.facet#mention") => {
                let did = feature["did"].as_str().ok_or("mention without did")?;
                world
                    .accounts
                    .iter()
                    .find(|a| a.did == did)
                    .map(|a| format!("@{}", a.handle))
            }
            other => return Err(format!("unknown facet feature {other:?}")),
        };
        if want.as_deref() != Some(covered) {
            return Err(format!(
                "facet {start}..{end} covers {covered:?}, not {want:?}"
            ));
        }
    }
    Ok(())
}

fn strong_ref_exists(world: &World, strong: &Value) -> Result<(), String> {
    let (Some(uri), Some(cid)) = (strong["uri"].as_str(), strong["cid"].as_str()) else {
        return Err("a strong ref needs uri and cid".into());
    };
    let parts: Vec<&str> = uri.trim_start_matches("at://").splitn(3, '/').collect();
    let [did, collection, rkey] = parts[..] else {
        return Err(format!("{uri} is not an at:// URI of a record"));
    };
    match world
        .records
        .get(&(did.into(), collection.into(), rkey.into()))
    {
        Some(stored) if stored.cid == cid => Ok(()),
        Some(_) => Err(format!("{uri} has another cid")),
        None => Err(format!("{uri} does not exist")),
    }
}
