//! What software a server runs, from its nodeinfo (`/.well-known/nodeinfo`
//! links to a 2.x document naming `software.name` and `.version`), and
//! whether that is the family `platform:` names. Nodeinfo is public: these
//! reads never carry the token, since its link may point to another host.

use reqwest::header::HeaderMap;

use crate::chats::Platform;
use crate::network::error::{from_reqwest, from_status};
use crate::network::NetError;

/// The server's software as its nodeinfo names it (name lowercase).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Software {
    pub name: String,
    pub version: String,
}

impl std::fmt::Display for Software {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.name, self.version)
    }
}

const SCHEMA: &str = "http://nodeinfo.diaspora.software/ns/schema/";

/// Reads the discovery document, then the newest 2.x document it links.
pub(crate) async fn fetch(http: &reqwest::Client, server: &url::Url) -> Result<Software, NetError> {
    // A well-known path is at the host's root, whatever the server's path.
    let discovery = server
        .join("/.well-known/nodeinfo")
        .map_err(|e| NetError::Transport(format!("the nodeinfo address: {e}")))?;
    let links = get_json(http, discovery).await?;
    let href = newest_link(&links)
        .ok_or_else(|| NetError::Decode("the nodeinfo discovery names no 2.x document".into()))?;
    let document = server
        .join(&href)
        .map_err(|e| NetError::Decode(format!("the nodeinfo link {href}: {e}")))?;
    software_of(&get_json(http, document).await?)
}

async fn get_json(http: &reqwest::Client, url: url::Url) -> Result<serde_json::Value, NetError> {
    let response = http.get(url).send().await.map_err(from_reqwest)?;
    let status = response.status();
    let headers: HeaderMap = response.headers().clone();
    let body = response.text().await.map_err(from_reqwest)?;
    if !status.is_success() {
        return Err(from_status(status.as_u16(), &headers, &body));
    }
    serde_json::from_str(&body).map_err(|e| NetError::Decode(format!("nodeinfo: {e}")))
}

/// The `href` of the highest 2.x schema among the discovery's links.
fn newest_link(discovery: &serde_json::Value) -> Option<String> {
    discovery
        .get("links")?
        .as_array()?
        .iter()
        .filter_map(|link| {
            let version = link.get("rel")?.as_str()?.strip_prefix(SCHEMA)?;
            let minor = version.strip_prefix("2.")?.parse::<u32>().ok()?;
            Some((minor, link.get("href")?.as_str()?.to_owned()))
        })
        .max_by_key(|(minor, _)| *minor)
        .map(|(_, href)| href)
}

fn software_of(document: &serde_json::Value) -> Result<Software, NetError> {
    let field = |key: &str| {
        document
            .get("software")?
            .get(key)?
            .as_str()
            .map(|s| s.trim().to_owned())
    };
    let name = field("name")
        .filter(|n| !n.is_empty())
        .ok_or_else(|| NetError::Decode("the nodeinfo document names no software".into()))?;
    Ok(Software {
        name: name.to_lowercase(),
        version: field("version").unwrap_or_default(),
    })
}

/// The `platform:` whose megalodon flavour speaks to this software; `None`
/// for software hashchat does not know.
pub fn platform_of(software: &str) -> Option<Platform> {
    Some(match software.to_lowercase().as_str() {
        // Mastodon and the servers that implement its API as their own.
        "mastodon" | "hometown" | "glitch-soc" | "snac" | "takahe" | "wildebeest" => {
            Platform::Mastodon
        }
        "pleroma" | "akkoma" => Platform::Pleroma,
        "friendica" => Platform::Friendica,
        // The Misskey family megalodon's Firefish flavour speaks to.
        "firefish" | "calckey" | "iceshrimp" | "catodon" | "sharkey" | "misskey" => {
            Platform::Firefish
        }
        "gotosocial" => Platform::Gotosocial,
        _ => return None,
    })
}

/// Warns when the detected software belongs to another family than
/// `platform:` (a wrong flavour fails quietly: missing streams, odd
/// answers). Unknown software is only logged: it may well speak Mastodon.
pub fn check_platform(server: &url::Url, platform: Platform, software: &Software) -> bool {
    match platform_of(&software.name) {
        Some(detected) if detected == platform => true,
        Some(detected) => {
            tracing::warn!(
                server = %server,
                software = %software,
                "the server runs {software}, which is `platform: {}`, but chats.yaml says `platform: {}`; set `platform: {}` for it",
                name(detected),
                name(platform),
                name(detected),
            );
            false
        }
        None => {
            tracing::info!(server = %server, software = %software, platform = name(platform), "the server runs software hashchat does not know; trusting `platform:`");
            true
        }
    }
}

/// Detects the server's software and warns (see [`check_platform`]) when
/// it is not the family `platform:` names. A server without nodeinfo, or
/// one that cannot be read now, is only logged: this check never stops a
/// chat.
pub async fn warn_on_other_platform(
    social: &dyn crate::network::Social,
    server: &url::Url,
    platform: Platform,
) {
    match social.software().await {
        Ok(Some(software)) => {
            check_platform(server, platform, &software);
        }
        Ok(None) => {}
        Err(e) => {
            tracing::debug!(server = %server, error = %e, "could not read the server's nodeinfo")
        }
    }
}

/// `platform:` as written in chats.yaml.
fn name(platform: Platform) -> &'static str {
    match platform {
        Platform::Mastodon => "mastodon",
        Platform::Pleroma => "pleroma",
        Platform::Friendica => "friendica",
        Platform::Firefish => "firefish",
        Platform::Gotosocial => "gotosocial",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_newest_2x_document_is_read() {
        let discovery = json!({"links": [
            {"rel": format!("{SCHEMA}2.0"), "href": "https://a.example/nodeinfo/2.0"},
            {"rel": format!("{SCHEMA}2.1"), "href": "https://a.example/nodeinfo/2.1"},
            {"rel": format!("{SCHEMA}1.0"), "href": "https://a.example/nodeinfo/1.0"},
            {"rel": "https://www.w3.org/ns/activitystreams#Application", "href": "https://a.example/actor"},
        ]});
        assert_eq!(
            newest_link(&discovery).as_deref(),
            Some("https://a.example/nodeinfo/2.1")
        );
        let old_only = json!({"links": [{"rel": format!("{SCHEMA}1.1"), "href": "x"}]});
        assert_eq!(newest_link(&old_only), None);
        assert_eq!(newest_link(&json!({})), None);
    }

    #[test]
    fn the_software_is_named_lowercase_with_its_version() {
        let document =
            json!({"version": "2.0", "software": {"name": "GoToSocial", "version": "0.17.3"}});
        assert_eq!(
            software_of(&document).unwrap(),
            Software {
                name: "gotosocial".into(),
                version: "0.17.3".into()
            }
        );
        assert!(software_of(&json!({"software": {"name": ""}})).is_err());
        assert!(software_of(&json!({})).is_err());
    }

    #[test]
    fn a_platform_matches_its_own_family_and_trusts_unknown_software() {
        let server: url::Url = "https://social.example".parse().unwrap();
        let software = |name: &str| Software {
            name: name.into(),
            version: "1".into(),
        };
        let cases = [
            ("mastodon", Platform::Mastodon, true),
            ("snac", Platform::Mastodon, true),
            ("akkoma", Platform::Pleroma, true),
            ("iceshrimp", Platform::Firefish, true),
            ("gotosocial", Platform::Mastodon, false),
            ("mastodon", Platform::Gotosocial, false),
            ("friendica", Platform::Pleroma, false),
            ("someday-server", Platform::Friendica, true),
        ];
        for (name, platform, matches) in cases {
            assert_eq!(
                check_platform(&server, platform, &software(name)),
                matches,
                "{name} as {platform:?}"
            );
        }
    }
}
